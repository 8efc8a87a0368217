package launcher

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// What confines a booted instance beyond its namespaces and capabilities,
// as systemd-nspawn and Docker do: a seccomp filter, a device policy and
// the /proc files hidden from it. They matter most without a user
// namespace, where root in the instance is host root; with one, the kernel
// already refuses most of what they block, and they cost next to nothing.

// bootDeniedSyscalls fail with EPERM in a booted instance: they act on the
// kernel or the machine as a whole, which no namespace confines.
var bootDeniedSyscalls = []string{
	// Loading kernel code, or a new kernel.
	"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
	// The kernel keyrings, which are not namespaced (root's user keyring
	// is host root's).
	"add_key", "keyctl", "request_key",
	// Opening any file of a file system by its handle, past the mount
	// namespace.
	"open_by_handle_at",
	// Swap, the clock, process accounting.
	"swapon", "swapoff", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64",
	"settimeofday", "adjtimex", "stime", "acct",
	// Raw I/O ports, and calls kept for old binaries only.
	"iopl", "ioperm", "vm86", "vm86old", "uselib", "nfsservctl", "_sysctl",
	// The kernel's log and performance counters, and aids to kernel
	// exploits.
	"syslog", "perf_event_open", "lookup_dcookie", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
}

// bootSeccomp is the seccomp filter of a booted instance.
func bootSeccomp() *specs.LinuxSeccomp {
	eperm := uint(1)
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names:    append([]string(nil), bootDeniedSyscalls...),
			Action:   specs.ActErrno,
			ErrnoRet: &eperm,
		}},
	}
}

// bootMaskedPaths are hidden in a booted instance: kernel memory and
// symbols, other processes' keys, timers and scheduler internals, the
// firmware and SCSI interfaces, binfmt_misc and the magic SysRq key.
var bootMaskedPaths = []string{
	"/proc/kcore", "/proc/kallsyms", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
	"/proc/latency_stats", "/proc/sysrq-trigger", "/proc/acpi", "/proc/scsi", "/proc/sys/fs/binfmt_misc",
}

// bootDevices is the device policy of a booted instance: the pseudo
// devices of its /dev, the console and the ptys. The runtime adds the
// devices it binds (InfiniBand). Block devices, and every other character
// device, can neither be opened nor created.
func bootDevices() []specs.LinuxDeviceCgroup {
	dev := func(major, minor int64, access string) specs.LinuxDeviceCgroup {
		ma, mi := major, minor
		r := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &ma, Access: access}
		if minor >= 0 {
			r.Minor = &mi
		}
		return r
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev(1, 3, "rwm"), dev(1, 5, "rwm"), dev(1, 7, "rwm"), dev(1, 8, "rwm"), dev(1, 9, "rwm"), // null zero full random urandom
		dev(5, 0, "rwm"), dev(5, 1, "rw"), dev(5, 2, "rwm"), // tty console ptmx
		dev(136, -1, "rw"), // the ptys of /dev/pts
	}
}
