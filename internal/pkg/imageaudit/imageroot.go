package imageaudit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// maxSymlinkHops matches the kernel's MAXSYMLINKS: a chain longer than this
// is treated as a loop, the way open(2) would fail with ELOOP.
const maxSymlinkHops = 40

// maxConfigSize bounds what is read from any one file of the image. Unit and
// network files are a few KiB; a bigger file is not something systemd or
// ifupdown would be handed, and reading it whole would let a crafted image
// exhaust memory.
const maxConfigSize = 4 << 20

// errSymlinkLoop reports a symlink chain that does not end.
var errSymlinkLoop = errors.New("too many levels of symbolic links")

// imageRoot gives read access to an unpacked image (a sandbox directory) as
// the booted container would see it: every path is taken relative to the
// image's root, and symlinks are followed the way a chroot would follow them.
// An absolute link target is looked up inside the image and ".." stops at
// the image's root, so no link can lead outside. All access goes through an
// os.Root as well, so a directory swapped for an escaping symlink while the
// audit runs makes the access fail instead of reading host files.
type imageRoot struct {
	dir  string
	root *os.Root
}

// openImageRoot opens dir as an image root.
func openImageRoot(dir string) (*imageRoot, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open image directory %q: %w", dir, err)
	}
	return &imageRoot{dir: dir, root: r}, nil
}

// Close releases the directory handle.
func (r *imageRoot) Close() error { return r.root.Close() }

// rel turns a cleaned in-image absolute path into the name os.Root expects.
func rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// splitPath returns the non-empty components of p.
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// resolve returns the in-image absolute path that p names once every
// symlink in it is followed inside the image. With followLast false the last
// component is left as it is (lstat semantics). A missing component yields
// an error matching fs.ErrNotExist, together with the path as far as it was
// resolved, so that callers can report where a link dangles.
func (r *imageRoot) resolve(p string, followLast bool) (string, error) {
	pending := splitPath(p)
	var done []string
	hops := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		if c == ".." {
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := append(append([]string(nil), done...), c)
		if len(pending) == 0 && !followLast {
			done = cand
			break
		}
		fi, err := r.root.Lstat(rel(strings.Join(cand, "/")))
		if err != nil {
			return "/" + path.Join(append(cand, pending...)...), err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = cand
			continue
		}
		hops++
		if hops > maxSymlinkHops {
			return "/" + strings.Join(cand, "/"), errSymlinkLoop
		}
		target, err := r.root.Readlink(rel(strings.Join(cand, "/")))
		if err != nil {
			return "/" + strings.Join(cand, "/"), err
		}
		if path.IsAbs(target) {
			done = nil
		}
		pending = append(splitPath(target), pending...)
	}
	return "/" + strings.Join(done, "/"), nil
}

// lstat describes p itself (its parents are resolved inside the image).
func (r *imageRoot) lstat(p string) (fs.FileInfo, error) {
	rp, err := r.resolve(p, false)
	if err != nil {
		return nil, err
	}
	return r.root.Lstat(rel(rp))
}

// stat describes what p finally names.
func (r *imageRoot) stat(p string) (fs.FileInfo, error) {
	rp, err := r.resolve(p, true)
	if err != nil {
		return nil, err
	}
	return r.root.Lstat(rel(rp))
}

// readlink returns the raw target of the symlink p.
func (r *imageRoot) readlink(p string) (string, error) {
	rp, err := r.resolve(p, false)
	if err != nil {
		return "", err
	}
	return r.root.Readlink(rel(rp))
}

// readFile reads the regular file that p names, following links inside the
// image. Anything else (a directory, a device, a FIFO that would block) is
// refused.
func (r *imageRoot) readFile(p string) ([]byte, error) {
	rp, err := r.resolve(p, true)
	if err != nil {
		return nil, err
	}
	f, err := r.root.OpenFile(rel(rp), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", rp)
	}
	if fi.Size() > maxConfigSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", rp, maxConfigSize)
	}
	return io.ReadAll(io.LimitReader(f, maxConfigSize+1))
}

// readDir lists the directory p names, sorted by name. A missing directory
// is not an error: most images lack most of the places the audit looks.
func (r *imageRoot) readDir(p string) ([]fs.DirEntry, error) {
	rp, err := r.resolve(p, true)
	if isAbsent(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f, err := r.root.Open(rel(rp))
	if isAbsent(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, nil
	}
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	sortEntries(ents)
	return ents, nil
}

// isAbsent reports whether err means the path is not there, including a
// path that runs through a regular file (ENOTDIR): systemd just finds
// nothing there either.
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// linkState classifies a path for systemd's purposes.
type linkState int

const (
	pathMissing linkState = iota // nothing there
	pathRegular                  // resolves to a regular file with content
	pathMasked                   // a link to /dev/null or an empty file: systemd treats it as masked
	pathBroken                   // a symlink whose target does not exist in the image
	pathOther                    // a directory or special file
)

// classify tells whether p is missing, a usable file, a mask or a dangling
// link. A link chain that passes through /dev/null counts as a mask even
// though an unpacked image rarely has a real /dev/null: the runtime supplies
// /dev at boot, and systemd checks the device, not the image.
func (r *imageRoot) classify(p string) (linkState, string) {
	cur := path.Clean("/" + p)
	for hop := 0; hop <= maxSymlinkHops; hop++ {
		if cur == "/dev/null" {
			return pathMasked, cur
		}
		fi, err := r.lstat(cur)
		if err != nil {
			if cur != path.Clean("/"+p) {
				return pathBroken, cur
			}
			return pathMissing, cur
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			switch {
			case fi.Mode().IsRegular() && fi.Size() == 0:
				return pathMasked, cur
			case fi.Mode().IsRegular():
				return pathRegular, cur
			default:
				return pathOther, cur
			}
		}
		target, err := r.readlink(cur)
		if err != nil {
			return pathBroken, cur
		}
		if !path.IsAbs(target) {
			parent, perr := r.resolve(path.Dir(cur), true)
			if perr != nil {
				return pathBroken, cur
			}
			target = path.Join(parent, target)
		}
		cur = path.Clean(target)
	}
	return pathBroken, cur
}
