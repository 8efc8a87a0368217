package instance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// writeFileAtomic replaces dir/base with data so that a concurrent reader
// sees either the old or the new content, never a prefix: the data goes to a
// temporary file in the same directory (so rename cannot cross file systems)
// and is renamed over the target.
//
// Nothing is synced to disk. An instance file describes processes, which a
// crash ends: after one, every instance file is a ghost's whatever its
// content, and a file cut short reads as damaged and is reported as such.
// Syncing would only slow down every start and stop (three writes each),
// most on a host whose disks are busy.
//
// The temporary file is created with O_EXCL|O_NOFOLLOW, so a symbolic link
// planted under its name cannot redirect the write; rename replaces a link at
// the target rather than writing through it. perm is applied with fchmod,
// independently of the umask, because upstream expects exactly 0644.
func writeFileAtomic(dir, base string, data []byte, perm os.FileMode) (err error) {
	target := filepath.Join(dir, base)
	tmp, fh, err := createTemp(dir, base)
	if err != nil {
		return fmt.Errorf("failed to create temporary file for %q: %w", target, err)
	}
	defer func() {
		if err != nil {
			_ = fh.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = fh.Write(data); err != nil {
		return fmt.Errorf("failed to write %q: %w", tmp, err)
	}
	if err = fh.Chmod(perm); err != nil {
		return fmt.Errorf("failed to set mode of %q: %w", tmp, err)
	}
	if err = fh.Close(); err != nil {
		return fmt.Errorf("failed to close %q: %w", tmp, err)
	}
	if err = os.Rename(tmp, target); err != nil {
		return fmt.Errorf("failed to rename %q to %q: %w", tmp, target, err)
	}
	return nil
}

// createTemp creates an unused hidden file next to base. Its name does not end
// in ".json", so it is never taken for an instance file.
func createTemp(dir, base string) (string, *os.File, error) {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	for range 100 {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		fh, err := os.OpenFile(name, flags, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return name, fh, err
	}
	return "", nil, fmt.Errorf("no unused temporary name in %q", dir)
}

// LockDir takes an exclusive flock on dir and returns the function that
// releases it. The lock serialises the operations that decide whether an
// instance directory (or an instance's runtime directory, for the engine)
// may be created or deleted; flock locks belong to the
// open file description, so two goroutines of one process exclude each other
// as well as two processes do, and the kernel drops the lock if its holder
// dies.
func LockDir(dir string) (unlock func(), err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open %q for locking: %w", dir, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("failed to lock %q: %w", dir, err)
	}
	return func() { _ = unix.Close(fd) }, nil
}
