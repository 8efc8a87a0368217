package launcher

import (
	"fmt"
	"slices"

	"github.com/apptainer/apptainer/internal/pkg/capabilities"
	"github.com/apptainer/apptainer/internal/pkg/hostnet/policy"
)

// bootDroppedCaps are dropped from booted instances unless --keep-privs:
// init must not poke at raw I/O.
var bootDroppedCaps = []string{"CAP_SYS_RAWIO"}

// CAP_SYS_BOOT is kept by an init in a PID namespace of its own, as
// systemd-nspawn and LXC keep it: there the kernel turns reboot(2) into
// the end of the namespace's init (reboot_pid_ns), which is how sysvinit,
// busybox init and others halt. kexec, its only other use, is denied by
// the boot seccomp filter (bootDeniedSyscalls). Without a PID namespace
// of its own ("allow pid ns = no") reboot(2) would reboot the host: it is
// dropped then.
const capSysBoot = "CAP_SYS_BOOT"

// capSet is the result of capability decisions: the set given to the
// process and what was dropped for host-network safety.
type capSet struct {
	Caps           []string
	HostnetDropped []string
	NoNewPrivs     bool
}

// decideCaps computes the process's capabilities. Root starts from
// "root default capabilities" (full with --keep-privs, none with
// --no-privs), then --add-caps and --drop-caps apply. Unlike upstream, a
// booted instance keeps the user's --drop-caps and drops CAP_SYS_RAWIO on
// top, and CAP_SYS_BOOT unless ownPIDNS (a new PID namespace). On the host network CAP_NET_ADMIN, CAP_NET_RAW,
// CAP_SYS_MODULE and CAP_SYS_TIME go too, unless --keep-privs or named in
// --add-caps.
//
// With --fakeroot, the container's root holds every capability of its user
// namespace as upstream's does (none with --no-privs): they act only on
// what the namespace owns and on files of the ids it maps.
func decideCaps(o Options, h Host, fakeroot bool, rootDefault string, ownPIDNS bool) (capSet, []Message, error) {
	var msgs []Message
	if h.UID != 0 && o.KeepPrivs {
		return capSet{}, nil, fmt.Errorf("%w: Could not configure --keep-privs: --keep-privs requires root privileges", ErrPermission)
	}
	if h.UID != 0 && !fakeroot {
		return capSet{NoNewPrivs: true}, nil, nil
	}
	mode := rootDefault
	if fakeroot {
		mode, h.HeldCaps = "full", nil
	}
	switch {
	case o.KeepPrivs:
		mode = "full"
	case o.NoPrivs:
		mode = "no"
	}
	var base []string
	var err error
	switch {
	case mode != capabilities.ModeFile:
		base, err = capabilities.RootDefault(mode, "")
	case h.RootFileCaps != nil:
		base, err = h.RootFileCaps()
	default:
		base = []string{}
	}
	if err != nil {
		return capSet{}, nil, fmt.Errorf("failed to read root default capabilities: %w", err)
	}
	add, unknownAdd := capabilities.ParseList(o.AddCaps)
	for _, u := range unknownAdd {
		msgs = append(msgs, Message{Warning, fmt.Sprintf("won't add unknown capability: %s", u)})
	}
	drop, unknownDrop := capabilities.ParseList(o.DropCaps)
	for _, u := range unknownDrop {
		msgs = append(msgs, Message{Warning, fmt.Sprintf("won't drop unknown capability: %s", u)})
	}
	set := union(base, add)
	set = without(set, drop)
	if h.HeldCaps != nil {
		set = intersect(set, h.HeldCaps)
	}
	if o.Boot && !o.KeepPrivs {
		set = without(set, bootDroppedCaps)
		if !ownPIDNS {
			set = without(set, []string{capSysBoot})
		}
	}
	var hostnetDropped []string
	if o.BootHostnet && !o.KeepPrivs {
		for _, c := range policy.DroppedCapabilities() {
			if !slices.Contains(add, c) {
				hostnetDropped = append(hostnetDropped, c)
			}
		}
		set = without(set, hostnetDropped)
	}
	return capSet{Caps: set, HostnetDropped: hostnetDropped, NoNewPrivs: len(set) == 0}, msgs, nil
}

// union returns a followed by the members of b not in a, in order.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, c := range b {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// intersect returns the members of a that are in b, in order.
func intersect(a, b []string) []string {
	var out []string
	for _, c := range a {
		if slices.Contains(b, c) {
			out = append(out, c)
		}
	}
	return out
}

// without returns a minus the members of b, in order.
func without(a, b []string) []string {
	var out []string
	for _, c := range a {
		if !slices.Contains(b, c) {
			out = append(out, c)
		}
	}
	return out
}
