package instance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ShareLock coordinates the --sharens containers of one parent process,
// which share one hidden instance. Its file has two locks: the setup lock
// (byte 0), held exclusively by the one container that looks for the
// instance, starts it or stops it; and the users' lock (byte 1), held
// shared by every container while its command runs in the instance. One
// that, done and holding the setup lock, can take the users' lock
// exclusively is the last one out, and stops the instance. They are open
// file description locks: converting between shared and exclusive is
// atomic, and a process that dies drops its locks.
type ShareLock struct {
	f    *os.File
	path string
}

const (
	setupByte = 0
	usersByte = 1
)

// AcquireShareLock takes the setup lock of name in dir, waiting for the
// containers that start or stop the instance. The lock file is removed
// by the last one out: a waiter that gets the lock of a removed file
// tries again with the new one.
func AcquireShareLock(dir, name string) (*ShareLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the --sharens lock directory: %w", err)
	}
	path := filepath.Join(dir, name+".lock")
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("failed to open the --sharens lock %s: %w", path, err)
		}
		l := &ShareLock{f: f, path: path}
		if err := l.set(unix.F_OFD_SETLKW, unix.F_WRLCK, setupByte); err != nil {
			f.Close()
			return nil, fmt.Errorf("failed to lock %s: %w", path, err)
		}
		if l.current() {
			return l, nil
		}
		f.Close() // removed by the last one out meanwhile
	}
}

// current reports whether the locked file is still the one at the path.
func (l *ShareLock) current() bool {
	var held, now unix.Stat_t
	if unix.Fstat(int(l.f.Fd()), &held) != nil || unix.Lstat(l.path, &now) != nil {
		return false
	}
	return held.Dev == now.Dev && held.Ino == now.Ino
}

func (l *ShareLock) set(cmd int, typ int16, at int64) error {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: at, Len: 1}
	for {
		err := unix.FcntlFlock(l.f.Fd(), cmd, &lk)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// Join counts this container among the instance's users and drops the
// setup lock. With the setup lock held nobody holds the users' lock
// exclusively, so it does not wait.
func (l *ShareLock) Join() error {
	if err := l.set(unix.F_OFD_SETLKW, unix.F_RDLCK, usersByte); err != nil {
		return err
	}
	return l.set(unix.F_OFD_SETLK, unix.F_UNLCK, setupByte)
}

// Leave takes the setup lock again and reports whether this container is
// the last user: then it holds both locks exclusively, and stops the
// instance.
func (l *ShareLock) Leave() (last bool, err error) {
	if err := l.set(unix.F_OFD_SETLKW, unix.F_WRLCK, setupByte); err != nil {
		return false, err
	}
	err = l.set(unix.F_OFD_SETLK, unix.F_WRLCK, usersByte)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false, nil
	}
	return err == nil, err
}

// Remove removes the lock file; only by the last one out.
func (l *ShareLock) Remove() error { return os.Remove(l.path) }

// Close drops the locks.
func (l *ShareLock) Close() error { return l.f.Close() }
