package launcher

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/network"
)

// ErrPermission marks refusals of root-only features and of features an
// administrator turned off; the CLI maps it to upstream's exit code.
var ErrPermission = errors.New("permission denied")

// ErrInvalid marks options that contradict each other or are malformed.
var ErrInvalid = errors.New("invalid options")

// checkBoot refuses --boot outside instances, and for an ordinary user
// without --fakeroot (upstream's message, and the way out): init must be
// root in its container, which for a user only a root-mapped user
// namespace makes it.
func checkBoot(o Options, h Host) error {
	if !o.Boot {
		return nil
	}
	if !o.Action.IsInstance() {
		return fmt.Errorf("%w: --boot is only available with instance start and instance run", ErrInvalid)
	}
	if h.UID != 0 && !o.Fakeroot {
		return fmt.Errorf("%w: Could not configure --boot: --boot requires root privileges (an ordinary user boots with --fakeroot)", ErrPermission)
	}
	return nil
}

// checkDelegatedCgroup refuses --delegated-cgroup where it means nothing
// (only a booted instance has a cgroup of its own) and with resource
// limits: in a delegated cgroup the unit's processes (the monitor) sit
// beside the instance's cgroup, and cgroup2 lets a cgroup with processes
// hand no controller to its children. The unit's own limits (MemoryMax=,
// CPUQuota=, TasksMax=) cover the instance there.
func checkDelegatedCgroup(o Options) error {
	switch {
	case !o.DelegatedCgroup:
		return nil
	case !o.Boot:
		return fmt.Errorf("%w: --delegated-cgroup requires --boot: only a booted instance has a cgroup of its own", ErrInvalid)
	case o.Limits.set():
		return fmt.Errorf("%w: resource limits (--memory, --cpus, --pids-limit, ...) cannot be combined with --delegated-cgroup: set them on the systemd unit instead (MemoryMax=, CPUQuota=, TasksMax= in a drop-in), which holds the instance", ErrInvalid)
	}
	return nil
}

// checkBootHostnet refuses --boot-hostnet where it cannot work or is not
// allowed. It runs before any namespace decision, so nothing is started for
// a refused combination.
func checkBootHostnet(o Options, h Host, conf *apptainerconf.File) error {
	if !o.BootHostnet {
		if len(o.BootHostnetUnmask) > 0 {
			return fmt.Errorf("%w: --boot-hostnet-unmask requires --boot-hostnet", ErrInvalid)
		}
		if o.BootHostnetGuard != nil {
			return fmt.Errorf("%w: --boot-hostnet-guard requires --boot-hostnet", ErrInvalid)
		}
		return nil
	}
	if !o.Boot {
		return fmt.Errorf("%w: --boot-hostnet requires --boot", ErrInvalid)
	}
	// An empty value is a mistake (a variable that expanded to nothing),
	// not a request for the default.
	for _, u := range o.BootHostnetUnmask {
		if strings.TrimSpace(u) == "" {
			return fmt.Errorf("%w: --boot-hostnet-unmask needs a unit name, got an empty one (as in --boot-hostnet-unmask chrony.service)", ErrInvalid)
		}
	}
	if o.BootHostnetGuard != nil && *o.BootHostnetGuard == "" {
		return fmt.Errorf("%w: --boot-hostnet-guard needs a value: off, warn or fail", ErrInvalid)
	}
	for _, c := range []struct {
		set  bool
		flag string
	}{
		{o.Net, "--net"},
		{o.Network != "", "--network"},
		{len(o.NetworkArgs) > 0, "--network-args"},
		{o.NetnsPath != "", "--netns-path"},
	} {
		if c.set {
			return fmt.Errorf("%w: --boot-hostnet shares the host network namespace and cannot be combined with %s", ErrInvalid, c.flag)
		}
	}
	if !conf.AllowBootHostnet {
		return fmt.Errorf("%w: --boot-hostnet is disabled by the administrator (allow boot hostnet = no in apptainer.conf)", ErrPermission)
	}
	return checkRootlessBootHostnet(o, h, conf)
}

// checkRootlessBootHostnet lets an ordinary user boot on the host network
// only where apptainer.conf lists the user or one of the user's groups
// ("allow boot hostnet users/groups"), and only with --fakeroot: the
// instance is then in a user namespace the user owns, to which the kernel
// refuses every change of the host's network.
func checkRootlessBootHostnet(o Options, h Host, conf *apptainerconf.File) error {
	if h.UID == 0 {
		return nil
	}
	caller := network.Caller{UID: h.UID, User: h.User, GIDs: h.GIDs, Groups: h.Groups}
	if !(network.Allow{NetUsers: conf.AllowBootHostnetUsers, NetGroups: conf.AllowBootHostnetGroups}).Permits(caller) {
		return fmt.Errorf("%w: Could not configure --boot-hostnet: user %s is not allowed to boot instances on the host network (allow boot hostnet users / allow boot hostnet groups in apptainer.conf; default: root only)", ErrPermission, h.User)
	}
	if !o.Fakeroot {
		return fmt.Errorf("%w: Could not configure --boot: --boot requires root privileges (an ordinary user boots with --fakeroot)", ErrPermission)
	}
	if o.BootHostnetUserns != nil && !*o.BootHostnetUserns {
		return fmt.Errorf("%w: --boot-hostnet-userns=false: an ordinary user's instance always runs in the user's own user namespace", ErrInvalid)
	}
	return nil
}

// bootInstance is the launcher's boot branch: what upstream's instance block
// does for --boot, plus the host-network gate. It returns the updated
// namespaces and the hostname.
//
// Upstream forces a new network namespace here unconditionally, so that the
// container's init cannot reconfigure the host's interfaces. With
// --boot-hostnet the user asks to stay on the host network instead; the
// safeguards in hostnet.go take over that protection.
//
// An ordinary user's booted instance (--fakeroot) gets a network namespace
// with loopback only: CNI networks need root.
func bootInstance(o Options, ns namespaces, rootless bool) (namespaces, string) {
	ns.UTS = true
	if !o.BootHostnet {
		ns.Net = true
		ns.LoopbackOnly = rootless
	}
	hostname := o.Hostname
	if hostname == "" {
		hostname = o.InstanceName
	}
	return ns, hostname
}
