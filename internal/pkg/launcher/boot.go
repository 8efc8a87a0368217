package launcher

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPermission marks refusals of root-only features and of features an
// administrator turned off; the CLI maps it to upstream's exit code.
var ErrPermission = errors.New("permission denied")

// ErrInvalid marks options that contradict each other or are malformed.
var ErrInvalid = errors.New("invalid options")

// checkBoot refuses --boot for non-root users and outside instances, with
// upstream's message.
func checkBoot(o Options, h Host) error {
	if !o.Boot {
		return nil
	}
	if !o.Action.IsInstance() {
		return fmt.Errorf("%w: --boot is only available with instance start and instance run", ErrInvalid)
	}
	if h.UID != 0 {
		return fmt.Errorf("%w: Could not configure --boot: --boot requires root privileges", ErrPermission)
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
func checkBootHostnet(o Options, h Host, allowed bool) error {
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
	if h.UID != 0 {
		return fmt.Errorf("%w: Could not configure --boot-hostnet: --boot-hostnet requires root privileges", ErrPermission)
	}
	if !allowed {
		return fmt.Errorf("%w: --boot-hostnet is disabled by the administrator (allow boot hostnet = no in apptainer.conf)", ErrPermission)
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
func bootInstance(o Options, ns namespaces) (namespaces, string) {
	ns.UTS = true
	if !o.BootHostnet {
		ns.Net = true
	}
	hostname := o.Hostname
	if hostname == "" {
		hostname = o.InstanceName
	}
	return ns, hostname
}
