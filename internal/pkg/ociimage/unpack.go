package ociimage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// ErrEscape: a tar entry names a path outside the root file system.
var ErrEscape = errors.New("path escapes the root file system")

// Whiteout markers of the OCI layer format (from aufs): ".wh.NAME"
// deletes NAME of the layers below, ".wh..wh..opq" empties its directory
// of what the layers below put there.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// Unpack applies the image's layers, the bottom one first, to rootfs, an
// existing directory. Every path is resolved inside rootfs the way the
// container will see it (a symlink's absolute target starts at rootfs),
// so no entry reaches outside, through links of its own layer or of
// those below. Ownership and modes are kept when running as root;
// device nodes need root too and are left out, with a warning, without.
func Unpack(ctx context.Context, img v1.Image, rootfs string, warn func(string)) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("failed to list the image's layers: %w", err)
	}
	a, err := newApplier(rootfs, warn)
	if err != nil {
		return err
	}
	defer a.close()
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := a.applyLayer(l); err != nil {
			d, _ := l.Digest()
			return fmt.Errorf("layer %d of %d (%s): %w", i+1, len(layers), d, err)
		}
	}
	return nil
}

// applier writes layers into one root file system.
type applier struct {
	dir  string   // the root file system, symlinks resolved
	root *os.Root // every change goes through it, a second fence
	warn func(string)
	// privileged: running as root, owners are set and nodes made.
	privileged bool
	// touched holds this layer's entries and their parent directories:
	// an opaque marker spares them.
	touched map[string]bool
	// dirs are this layer's directories, whose modes and times are set
	// once the layer is written (a read-only directory must still take
	// its entries, and writing them changes its mtime).
	dirs []*tar.Header
	// warned avoids repeating one warning per device node.
	warned map[string]bool
}

func newApplier(rootfs string, warn func(string)) (*applier, error) {
	dir, err := filepath.EvalSymlinks(rootfs)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve %s: %w", rootfs, err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", rootfs, err)
	}
	if warn == nil {
		warn = func(string) {}
	}
	return &applier{dir: dir, root: root, warn: warn, privileged: os.Geteuid() == 0, warned: map[string]bool{}}, nil
}

func (a *applier) close() { _ = a.root.Close() }

func (a *applier) applyLayer(l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("failed to open: %w", err)
	}
	defer rc.Close()
	a.touched, a.dirs = map[string]bool{}, nil
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("failed to read: %w", err)
		}
		if err := a.applyEntry(h, tr); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
	}
	// The layer must be read to its end for its digest to be checked.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("failed to read: %w", err)
	}
	if err := rc.Close(); err != nil {
		return fmt.Errorf("failed to read: %w", err)
	}
	return a.finishDirs()
}

// entryPath turns a tar entry name into a clean path relative to the
// root. A leading "/" is dropped (the name is taken inside the root);
// a ".." component is refused, wherever it would lead.
func entryPath(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", ErrEscape
		}
	}
	rel := path.Clean("/" + name)[1:]
	if rel == "" {
		rel = "."
	}
	return rel, nil
}

// whiteoutKind says what an entry is as a whiteout.
type whiteoutKind int

const (
	notWhiteout    whiteoutKind = iota
	whiteoutOne                 // .wh.NAME: delete NAME
	whiteoutOpaque              // .wh..wh..opq: empty the directory
	whiteoutOther               // other .wh..wh. names (aufs internals): ignored
)

// classifyWhiteout tells whether rel is a whiteout and which path it
// deletes or empties.
func classifyWhiteout(rel string) (whiteoutKind, string, error) {
	dir, base := path.Split(rel)
	dir = path.Clean("/" + dir)[1:]
	if dir == "" {
		dir = "."
	}
	switch {
	case base == opaqueMarker:
		return whiteoutOpaque, dir, nil
	case strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix):
		return whiteoutOther, "", nil
	case strings.HasPrefix(base, whiteoutPrefix):
		target := strings.TrimPrefix(base, whiteoutPrefix)
		if target == "" || target == "." || target == ".." {
			return 0, "", fmt.Errorf("whiteout of %q: %w", target, ErrEscape)
		}
		return whiteoutOne, path.Join(dir, target), nil
	}
	return notWhiteout, "", nil
}

func (a *applier) applyEntry(h *tar.Header, r io.Reader) error {
	rel, err := entryPath(h.Name)
	if err != nil {
		return err
	}
	kind, target, err := classifyWhiteout(rel)
	if err != nil {
		return err
	}
	switch kind {
	case whiteoutOne:
		return a.whiteout(target)
	case whiteoutOpaque:
		return a.opaque(target)
	case whiteoutOther:
		return nil
	}
	if rel == "." {
		// The root directory itself keeps the build's mode and owner.
		return nil
	}
	a.touch(rel)
	return a.write(rel, h, r)
}

// touch records rel and its parents as written by this layer.
func (a *applier) touch(rel string) {
	for p := rel; p != "." && p != "/" && !a.touched[p]; p = path.Dir(p) {
		a.touched[p] = true
	}
}

// resolve resolves rel's parent inside the root, links followed with the
// root as "/", and returns the parent's path and rel's own, both relative
// to the root, rel's last component not followed.
func (a *applier) resolve(rel string) (parent, full string, err error) {
	p, err := securejoin.SecureJoin(a.dir, path.Dir(rel))
	if err != nil {
		return "", "", err
	}
	parent, err = filepath.Rel(a.dir, p)
	if err != nil || !filepath.IsLocal(parent) && parent != "." {
		return "", "", ErrEscape
	}
	return parent, filepath.Join(parent, path.Base(rel)), nil
}

func (a *applier) whiteout(target string) error {
	_, full, err := a.resolve(target)
	if err != nil {
		return err
	}
	if err := a.root.RemoveAll(full); err != nil {
		return fmt.Errorf("whiteout: %w", err)
	}
	return nil
}

// opaque removes what the layers below left in dir; entries this layer
// already wrote there stay.
func (a *applier) opaque(dir string) error {
	p, err := securejoin.SecureJoin(a.dir, dir)
	if err != nil {
		return err
	}
	resolved, err := filepath.Rel(a.dir, p)
	if err != nil {
		return err
	}
	f, err := a.root.Open(resolved)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opaque whiteout: %w", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("opaque whiteout: %w", err)
	}
	for _, n := range names {
		if a.touched[path.Join(dir, n)] {
			continue
		}
		if err := a.root.RemoveAll(filepath.Join(resolved, n)); err != nil {
			return fmt.Errorf("opaque whiteout: %w", err)
		}
	}
	return nil
}

// write makes one entry: a directory, file, link or node.
func (a *applier) write(rel string, h *tar.Header, r io.Reader) error {
	parent, full, err := a.resolve(rel)
	if err != nil {
		return err
	}
	if err := a.root.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	if h.Typeflag == tar.TypeDir {
		return a.mkdir(full, h)
	}
	if err := a.clear(full); err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives still use TypeRegA
		return a.writeFile(full, h, r)
	case tar.TypeSymlink:
		if err := a.root.Symlink(h.Linkname, full); err != nil {
			return err
		}
		return a.setMeta(parent, full, h, false)
	case tar.TypeLink:
		return a.hardlink(full, h)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return a.mknod(parent, full, h)
	}
	a.warnOnce(fmt.Sprintf("tar entry type %q", h.Typeflag), fmt.Sprintf("%q: entries of tar type %q are not supported, left out", h.Name, h.Typeflag))
	return nil
}

// clear removes what is at full so that an entry can take its place, as
// a later layer replaces a file of a lower one.
func (a *applier) clear(full string) error {
	fi, err := a.root.Lstat(full)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return a.root.RemoveAll(full)
	}
	return a.root.Remove(full)
}

func (a *applier) mkdir(full string, h *tar.Header) error {
	fi, err := a.root.Lstat(full)
	switch {
	case err == nil && fi.IsDir():
	case err == nil || errors.Is(err, os.ErrNotExist):
		// A file or symlink (even one to a directory) is replaced.
		if err := a.clear(full); err != nil {
			return err
		}
		if err := a.root.Mkdir(full, 0o755); err != nil {
			return err
		}
	default:
		return err
	}
	a.dirs = append(a.dirs, h)
	return nil
}

func (a *applier) writeFile(full string, h *tar.Header, r io.Reader) error {
	f, err := a.root.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if a.privileged {
		if err := f.Chown(h.Uid, h.Gid); err != nil {
			f.Close()
			return err
		}
	}
	// After chown, which clears set-user-ID and set-group-ID bits.
	if err := f.Chmod(fileMode(h)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return a.root.Chtimes(full, accessTime(h), h.ModTime)
}

// hardlink links full to an earlier entry, which is looked up inside the
// root like any entry; a link to a symlink links the symlink itself.
func (a *applier) hardlink(full string, h *tar.Header) error {
	target, err := entryPath(h.Linkname)
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
	}
	_, tfull, err := a.resolve(target)
	if err != nil {
		return err
	}
	fi, err := a.root.Lstat(tfull)
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("hard link to %q: a directory", h.Linkname)
	}
	return a.root.Link(tfull, full)
}

func (a *applier) mknod(parent, full string, h *tar.Header) error {
	mode := uint32(fileMode(h).Perm())
	switch h.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
	default:
		mode |= unix.S_IFIFO
	}
	if !a.privileged && h.Typeflag != tar.TypeFifo {
		a.warnOnce("mknod", fmt.Sprintf("device nodes need root: %q and any other is left out", h.Name))
		return nil
	}
	d, err := a.root.Open(parent)
	if err != nil {
		return err
	}
	defer d.Close()
	dev := int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))
	if err := mknodAt(int(d.Fd()), filepath.Base(full), mode, dev); err != nil {
		if errors.Is(err, unix.EPERM) {
			a.warnOnce("mknod", fmt.Sprintf("device nodes cannot be made here: %q and any other is left out", h.Name))
			return nil
		}
		return fmt.Errorf("mknod: %w", err)
	}
	return a.setMeta(parent, full, h, true)
}

// setMeta sets owner, mode (unless a symlink) and times of the entry
// just made at full, without following a symlink there.
func (a *applier) setMeta(parent, full string, h *tar.Header, chmod bool) error {
	if a.privileged {
		if err := a.root.Lchown(full, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	if chmod {
		if err := a.root.Chmod(full, fileMode(h)); err != nil {
			return err
		}
	}
	d, err := a.root.Open(parent)
	if err != nil {
		return err
	}
	defer d.Close()
	ts := []unix.Timespec{unix.NsecToTimespec(accessTime(h).UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(int(d.Fd()), filepath.Base(full), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("failed to set times: %w", err)
	}
	return nil
}

// finishDirs sets the modes, owners and times of this layer's
// directories, deepest first, each looked up again: an entry after it
// may have replaced it or a parent with a link.
func (a *applier) finishDirs() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		h := a.dirs[i]
		rel, _ := entryPath(h.Name)
		_, full, err := a.resolve(rel)
		if err != nil {
			return err
		}
		fi, err := a.root.Lstat(full)
		if errors.Is(err, os.ErrNotExist) || err == nil && !fi.IsDir() {
			continue
		}
		if err != nil {
			return err
		}
		if a.privileged {
			if err := a.root.Lchown(full, h.Uid, h.Gid); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		}
		if err := a.root.Chmod(full, fileMode(h)); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		if err := a.root.Chtimes(full, accessTime(h), h.ModTime); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
	}
	return nil
}

func (a *applier) warnOnce(key, msg string) {
	if !a.warned[key] {
		a.warned[key] = true
		a.warn(msg)
	}
}

// fileMode is the entry's permission bits with set-user-ID, set-group-ID
// and sticky, as os.FileMode.
func fileMode(h *tar.Header) os.FileMode {
	m := os.FileMode(h.Mode).Perm()
	if h.Mode&04000 != 0 {
		m |= os.ModeSetuid
	}
	if h.Mode&02000 != 0 {
		m |= os.ModeSetgid
	}
	if h.Mode&01000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

func accessTime(h *tar.Header) time.Time {
	if h.AccessTime.IsZero() {
		return h.ModTime
	}
	return h.AccessTime
}
