package instance

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// userDir is the directory of one user's instances, opened once for one
// operation of the store. Every read, write, rename and removal of that
// operation goes through it, as an os.Root: no path leaves the directory,
// whatever the symbolic links in it say.
//
// The directory is often writable by somebody other than the caller: root
// lists and stops the instances of a user (-u), and root's own store is
// below a user's home when HOME or APPTAINER_CONFIGDIR come from that user
// (sudo -E). Such a user may rename a directory of the path, or replace
// one by a symbolic link, between two steps of root's; resolving the path
// anew for each step would let them point root's removal of a dead
// instance's directory at any directory of the host. With the directory
// pinned, the file root read and the directory it removes are the ones in
// the same place.
type userDir struct {
	root *os.Root
	path string // for messages
}

// openUserDir opens p's user directory; with create, it is made first.
// An error wraps fs.ErrNotExist when the directory is missing.
func (p Paths) openUserDir(create bool) (*userDir, error) {
	path := p.userDir()
	if create {
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, fmt.Errorf("failed to create instance directory %q: %w", path, err)
		}
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open instance directory %q: %w", path, err)
	}
	return &userDir{root: root, path: path}, nil
}

func (d *userDir) Close() { _ = d.root.Close() }

// lock takes an exclusive flock on the directory and returns the function
// that releases it. The lock serialises the steps that decide whether an
// instance directory may be created or removed.
func (d *userDir) lock() (unlock func(), err error) {
	fh, err := d.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("failed to open %q for locking: %w", d.path, err)
	}
	if err := flock(int(fh.Fd())); err != nil {
		_ = fh.Close()
		return nil, fmt.Errorf("failed to lock %q: %w", d.path, err)
	}
	return func() { _ = fh.Close() }, nil
}

// names lists the entries of the directory that are directories with a
// valid instance name, sorted.
func (d *userDir) names() ([]string, error) {
	fh, err := d.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("failed to read instance directory %q: %w", d.path, err)
	}
	defer fh.Close()
	entries, err := fh.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("failed to read instance directory %q: %w", d.path, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && CheckName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// filePath is name's instance file, relative to the directory.
func filePath(name string) string { return name + "/" + name + ".json" }

// read loads the instance file of name and checks that it describes that
// instance, so a file copied or planted under another name is not acted
// on.
func (d *userDir) read(name string, decode func([]byte) (*File, error)) (*File, error) {
	path := filepath.Join(d.path, filePath(name))
	fh, err := d.root.OpenFile(filePath(name), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open instance file %q: %w", path, unwrapPathError(err))
	}
	defer fh.Close()
	f, err := decodeFrom(fh, path, decode)
	if err != nil {
		return nil, err
	}
	if f.Name != name {
		return nil, fmt.Errorf("instance file %q describes instance %q", path, f.Name)
	}
	return f, nil
}

// unwrapPathError keeps the cause of an os.Root error, so that callers can
// still test it with errors.Is (fs.ErrNotExist) while the message names
// the full path once.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// mkdir creates the directory of instance name with mode 0700 exactly
// (Mkdir's mode passes through the umask; upstream expects 0700).
func (d *userDir) mkdir(name string) error {
	if err := d.root.Mkdir(name, 0o700); err != nil {
		return err
	}
	return d.root.Chmod(name, 0o700)
}

// remove removes the directory of instance name and everything in it.
func (d *userDir) remove(name string) error {
	return d.root.RemoveAll(name)
}

// write replaces the instance file of f.Name with data so that a
// concurrent reader sees either the old or the new content, never a
// prefix: the data goes to a temporary file in the same directory and is
// renamed over the target, which replaces a link there rather than
// writing through it.
//
// Nothing is synced to disk. An instance file describes processes, which a
// crash ends: after one, every instance file is a ghost's whatever its
// content, and a file cut short reads as damaged and is reported as such.
// Syncing would only slow down every start and stop (three writes each),
// most on a host whose disks are busy.
//
// perm is applied with fchmod, independently of the umask, because
// upstream expects exactly 0644.
func (d *userDir) write(name string, data []byte, perm os.FileMode) (err error) {
	target := filePath(name)
	tmp, fh, err := d.createTemp(name)
	if err != nil {
		return fmt.Errorf("failed to create temporary file for %q: %w", filepath.Join(d.path, target), err)
	}
	defer func() {
		if err != nil {
			_ = fh.Close()
			_ = d.root.Remove(tmp)
		}
	}()
	if _, err = fh.Write(data); err != nil {
		return fmt.Errorf("failed to write %q: %w", fh.Name(), err)
	}
	if err = fh.Chmod(perm); err != nil {
		return fmt.Errorf("failed to set mode of %q: %w", fh.Name(), err)
	}
	if err = fh.Close(); err != nil {
		return fmt.Errorf("failed to close %q: %w", fh.Name(), err)
	}
	if err = d.root.Rename(tmp, target); err != nil {
		return fmt.Errorf("failed to rename %q: %w", filepath.Join(d.path, tmp), err)
	}
	return nil
}

// createTemp creates an unused hidden file in the directory of instance
// name. Its name does not end in ".json", so it is never taken for an
// instance file.
func (d *userDir) createTemp(name string) (string, *os.File, error) {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL | unix.O_NOFOLLOW
	for range 100 {
		tmp := name + "/." + name + ".json.tmp-" + strconv.FormatUint(rand.Uint64(), 36)
		fh, err := d.root.OpenFile(tmp, flags, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return tmp, fh, err
	}
	return "", nil, fmt.Errorf("no unused temporary name in %q", filepath.Join(d.path, name))
}

// decodeFrom reads one instance file from r, at most maxFileSize bytes.
func decodeFrom(r io.Reader, path string, decode func([]byte) (*File, error)) (*File, error) {
	// One buffer serves every file of a listing: the decoders copy what
	// they keep, and fresh memory is what a listing spends its time on
	// (page faults), not reading.
	bufp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bufp)
	data, err := readAllInto((*bufp)[:0], io.LimitReader(r, maxFileSize+1))
	*bufp = data
	if err != nil {
		return nil, fmt.Errorf("failed to read instance file %q: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("failed to read instance file %q: larger than %d bytes", path, maxFileSize)
	}
	f, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("failed to parse instance file %q: %w", path, err)
	}
	return f, nil
}
