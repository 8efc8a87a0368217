package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

// --sharens: the containers that one parent process starts (the ranks an
// MPI launcher forks) share their namespaces and image. As upstream, they
// share a hidden instance named after the parent's PID, which the first of
// them starts; unlike upstream's, its PID 1 only holds it, every container
// runs its command in it the same way, and the last one out stops it (its
// parent's exit stops it too, should that one have been killed). An
// instance.ShareLock orders the starts and stops.

// sharensPrefix begins the name of a --sharens instance, as upstream's.
const sharensPrefix = "sharens_instance"

// sharedInstanceName is the instance of the --sharens containers of the
// parent process ppid.
func sharedInstanceName(ppid int) string { return fmt.Sprintf("%s_%d", sharensPrefix, ppid) }

// sharensLockDir holds the users' --sharens locks, where only root writes.
func sharensLockDir(uid int) string {
	return filepath.Join(engine.RunRoot(), "sharens", strconv.Itoa(uid))
}

// runShared runs action in the instance shared by the --sharens
// containers of this process's parent, starting it if none runs.
func runShared(action launcher.Action, o *actionOptions, image string) error {
	ppid := os.Getppid()
	name := sharedInstanceName(ppid)
	lock, err := instance.AcquireShareLock(sharensLockDir(os.Getuid()), name)
	if err != nil {
		return err
	}
	defer lock.Close()
	f, err := liveInstance("", name)
	switch {
	case errors.Is(err, errNoInstance):
		if err := startShared(o, image, name, ppid); err != nil {
			_ = lock.Remove()
			return err
		}
	case err != nil:
		return err
	default:
		warnOtherImage(f, image)
	}
	if err := lock.Join(); err != nil {
		return fmt.Errorf("failed to lock %s: %w", name, err)
	}
	runErr := runInInstance(action, name, o)
	last, err := lock.Leave()
	if err != nil {
		stderrLog.Warningf("--sharens: cannot tell whether this was the last container of %s (%v): it stops with process %d", name, err, ppid)
		return runErr
	}
	if last {
		stopShared(name)
		_ = lock.Remove()
	}
	return runErr
}

// startShared starts the shared instance of o's image.
func startShared(o *actionOptions, image, name string, ppid int) error {
	o.ShareNSParent, o.InstanceName = ppid, name
	cfg, err := buildConfig(o, image)
	if err != nil {
		return err
	}
	_, err = launchInstance(cfg, name, nil)
	return err
}

// warnOtherImage says that a container of another image joins the shared
// instance anyway: the namespaces, image included, are the first one's.
func warnOtherImage(f *instance.File, image string) {
	abs, err := resolveImage(image)
	if err == nil && abs != f.Image {
		stderrLog.Warningf("--sharens: %s runs in the shared instance %s of %s, started by an earlier container of the same parent process", image, f.Name, f.Image)
	}
}

// stopShared stops the shared instance once its last container is done.
func stopShared(name string) {
	paths, err := instancePaths("")
	if err == nil {
		var f *instance.File
		if f, err = paths.Get(name); err == nil {
			if f, err = trustedInstance(paths, f); err == nil {
				// Quietly: the container's output is its command's.
				err = stopOne(paths, f, 0, false, sharedStopTimeout, stderrLog.Verbosef)
			}
		}
	}
	if err != nil && !errors.Is(err, errInstanceGone) && !errors.Is(err, instance.ErrNotFound) {
		stderrLog.Warningf("--sharens: failed to stop the shared instance %s: %v", name, err)
	}
}

// sharedStopTimeout is instance stop's default timeout.
const sharedStopTimeout = 10 * time.Second
