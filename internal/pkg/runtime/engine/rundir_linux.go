package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"golang.org/x/sys/unix"
)

// Instance names are unique in an instance store (a user's configuration
// directory), but an instance's runtime directory and cgroup are named by
// user and name only: root with two HOMEs has two stores and may use one
// name in both. The monitor therefore claims the runtime directory, and
// with it the cgroup of that name, by writing its PID into it; nothing
// else is acted on by a monitor or a ghost cleanup that does not own it.

// runDirOwnerFile, in a runtime directory, holds its monitor's PID.
const runDirOwnerFile = "monitor"

// claimRunDir makes dir the runtime directory of this monitor. While a
// live monitor owns it, the claim fails with an error wrapping
// instance.ErrExists; what a monitor that is gone left there is removed.
func claimRunDir(dir, user, name, configDir string) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", parent, err)
	}
	unlock, err := instance.LockDir(parent)
	if err != nil {
		return err
	}
	defer unlock()
	if owner, ok := runDirOwner(dir); ok && owner != os.Getpid() && instance.Alive(&instance.File{PPid: owner}) {
		if r, err := readRecord(user, name); err == nil && r.ConfigDir != configDir {
			return fmt.Errorf("instance %s %w: started from another configuration directory (monitor PID %d owns %s)", name, instance.ErrExists, owner, dir)
		}
		return fmt.Errorf("instance %s %w (monitor PID %d owns %s)", name, instance.ErrExists, owner, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("failed to remove %s, left by an exited instance: %w", dir, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	return os.WriteFile(filepath.Join(dir, runDirOwnerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// runDirOwner returns the PID recorded in runtime directory dir.
func runDirOwner(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, runDirOwnerFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// stopRequestFile, in a runtime directory, says that `instance stop` asked
// the instance to end: its PID 1's exit is then no failure, however it
// ended (see monitorExitCode).
const stopRequestFile = "stop-requested"

// NoteStopRequest records in the instance's runtime directory that it is
// being stopped on request, before its PID 1 is signalled: the monitor
// reads it once PID 1 exited, so it is there by then, whatever the order
// in which the processes run. A runtime directory that is gone (an
// instance that already ended) is no error.
func NoteStopRequest(f *instance.File) error {
	if f.RunDir == "" {
		return nil
	}
	fd, err := unix.Open(filepath.Join(f.RunDir, stopRequestFile), unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot record the stop request of instance %s: %w", f.Name, err)
	}
	return unix.Close(fd)
}

// removeRunDir removes runtime directory dir. `instance stop` may record
// its request there (NoteStopRequest) at any moment, also between the
// last listing of a removal and its rmdir, which then fails with
// ENOTEMPTY: the removal is tried again, and once the directory is gone
// no request can be recorded in it any more.
func removeRunDir(dir string) error {
	var err error
	// Each request is a single file: a few tries are plenty, and a
	// hundred bound even a stop recorded again and again.
	for range 100 {
		if err = os.RemoveAll(dir); err == nil || !errors.Is(err, unix.ENOTEMPTY) {
			return err
		}
	}
	return err
}

// stopWasRequested reports whether `instance stop` recorded a stop request
// in runtime directory dir.
func stopWasRequested(dir string) bool {
	if dir == "" {
		return false
	}
	_, err := os.Lstat(filepath.Join(dir, stopRequestFile))
	return err == nil
}
