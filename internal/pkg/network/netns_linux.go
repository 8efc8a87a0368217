package network

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// CheckNetnsPath checks that path (a --netns-path value) is a network
// namespace: a /proc/<pid>/ns/net link or a bind mount of one, such as
// /run/netns/<name>. A missing path gives upstream's "while checking netns
// path: …"; anything else that is not a network namespace, including other
// namespace types and a stale file under /run/netns whose namespace is
// no longer mounted on it, is refused with a message saying so, before the runtime
// would fail to join it in a less clear way.
func CheckNetnsPath(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("while checking netns path: %w", err)
	}
	notNetns := fmt.Errorf("%s is not a network namespace", path)

	// statfs first: it does not open the file, so a FIFO or a device is
	// refused without blocking or side effects.
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return fmt.Errorf("while checking netns path: %w", &os.PathError{Op: "statfs", Path: path, Err: err})
	}
	if fs.Type != unix.NSFS_MAGIC {
		return notNetns
	}

	f, err := os.Open(path)
	if err != nil {
		// Opening another user's /proc/<pid>/ns/net needs ptrace
		// rights that joining it later may not; nsfs is then the best
		// evidence available.
		if errors.Is(err, os.ErrPermission) {
			return nil
		}
		return fmt.Errorf("while checking netns path: %w", err)
	}
	defer f.Close()
	kind, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("failed to read the namespace type of %q: %w", path, err)
	}
	if kind != unix.CLONE_NEWNET {
		return notNetns
	}
	return nil
}
