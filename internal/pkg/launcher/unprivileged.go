package launcher

import (
	"fmt"

	"github.com/apptainer/apptainer/internal/pkg/bind"
)

// An ordinary user's container runs in a user namespace of its own that
// maps only the user's uid and gid (config.Unprivileged). Inside it the
// kernel lets the user mount what a user namespace may own (tmpfs, proc
// of its own PID namespace, devpts, mqueue of its own IPC namespace,
// overlayfs, FUSE, binds of what the user can see) and nothing that would
// act on the host. An instance's monitor runs as the user too, and keeps
// its runtime directory in the user's configuration directory
// (RunParent). What needs more (loop devices, CNI) stays root's in this
// build, and checkUnprivileged says so before anything starts.

// checkUnprivileged refuses, for a container in a user namespace of its
// own (an ordinary user's; root's with --userns or --fakeroot), what this
// build cannot run there. The root-only features that upstream refuses
// with messages of its own (--boot, --keep-privs, networks) were refused
// before, with those messages.
func checkUnprivileged(o Options, h Host, userBinds []bind.Spec) error {
	if h.UID == 0 {
		return checkRootUserNS(o, userBinds)
	}
	switch {
	case o.Net || o.NetnsPath != "":
		return fmt.Errorf("%w: network namespaces need root in this build (--net, --network, --netns-path)", ErrPermission)
	case len(o.Overlay) > 0:
		return fmt.Errorf("%w: --overlay needs root in this build: without root, use --writable-tmpfs", ErrPermission)
	case o.AddCaps != "":
		return fmt.Errorf("%w: Could not configure --add-caps: --add-caps requires root privileges", ErrPermission)
	}
	for _, b := range userBinds {
		if b.IsImage() {
			return fmt.Errorf("%w: binding from an image file (%s) needs root in this build: it is mounted through a loop device", ErrPermission, b.Source)
		}
	}
	return nil
}

// checkRootUserNS is checkUnprivileged for root's --userns and
// --fakeroot, whose container is built as an ordinary user's is.
func checkRootUserNS(o Options, userBinds []bind.Spec) error {
	const how = "in this build, --userns and --fakeroot"
	switch {
	case o.Boot:
		return fmt.Errorf("%w: %s cannot be combined with --boot", ErrInvalid, how)
	case o.Net || o.NetnsPath != "":
		return fmt.Errorf("%w: %s cannot be combined with --net, --network or --netns-path", ErrInvalid, how)
	case len(o.Overlay) > 0:
		return fmt.Errorf("%w: %s cannot be combined with --overlay (use --writable-tmpfs)", ErrInvalid, how)
	}
	for _, b := range userBinds {
		if b.IsImage() {
			return fmt.Errorf("%w: %s cannot bind from an image file (%s)", ErrInvalid, how, b.Source)
		}
	}
	return nil
}
