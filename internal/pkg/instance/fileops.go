package instance

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// LockDir takes an exclusive flock on dir and returns the function that
// releases it. The engine uses it on an instance's runtime directory; the
// store locks the user directory it has open (userDir.lock). flock locks
// belong to the open file description, so two goroutines of one process
// exclude each other as well as two processes do, and the kernel drops the
// lock if its holder dies.
func LockDir(dir string) (unlock func(), err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open %q for locking: %w", dir, err)
	}
	if err := flock(fd); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("failed to lock %q: %w", dir, err)
	}
	return func() { _ = unix.Close(fd) }, nil
}

// flock takes an exclusive lock on fd, waiting for it.
func flock(fd int) error {
	for {
		err := unix.Flock(fd, unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
