package engine

import (
	"bytes"
	"path"
	"slices"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/signal"
)

// BootInit is what a booted instance's start and stop know of the image's
// init, from the name of the program its /sbin/init resolves to. systemd
// reports readiness (READY=1 on $NOTIFY_SOCKET) and halts on SIGRTMIN+3;
// busybox init, sysvinit, OpenRC, s6 and the rest report nothing, and
// upstream Apptainer boots them all: their instance counts as started once
// their processes settle (see settleWatch).
type BootInit struct {
	// Name is how messages call it: "systemd", "busybox init" or the
	// program's path in the image.
	Name string
	// Notifies: readiness is READY=1, and the boot timeout is a failure.
	Notifies bool
	// StopSignal is the init's own request to halt, sent by instance stop
	// without --signal; SIGKILL follows after stop's timeout.
	StopSignal int
}

// IdentifyInit names the init that resolved is (the path /sbin/init leads
// to inside the image, symbolic links followed; "" when unknown), with
// program what its content says (ProgramOf). Both are the image's own: an
// image that lies only changes how its own start is waited for and how it
// is asked to halt.
func IdentifyInit(resolved, program string) BootInit {
	if program == ProgramSysvinit {
		// SIGINT is sysvinit's ctrl-alt-del: the inittabs of Debian and
		// Red Hat run shutdown there, which stops the services and ends
		// with reboot(2), the end of the instance.
		return BootInit{Name: "sysvinit", StopSignal: sigINT}
	}
	switch path.Base(resolved) {
	case "systemd":
		return BootInit{Name: "systemd", Notifies: true, StopSignal: int(signal.RTMin + 3)}
	case "busybox":
		// SIGUSR2 is busybox init's poweroff: its shutdown actions, then
		// SIGTERM and SIGKILL to every process, then reboot(2), which in
		// a PID namespace ends the namespace's init.
		return BootInit{Name: "busybox init", StopSignal: sigUSR2}
	}
	name := resolved
	if name == "" || name == "." || name == "/" {
		name = "/sbin/init"
	}
	// SIGINT is what upstream's instance stop sends to any PID 1: the
	// ctrl-alt-del of most inits, a reboot, which ends the instance.
	return BootInit{Name: name, StopSignal: sigINT}
}

// Readiness, in StartResult, says how a boot's start ended.
const (
	// ReadyNotified: init sent READY=1 (systemd).
	ReadyNotified = "ready"
	// ReadySettled: an init that does not report readiness had run the
	// same processes for settleQuiet.
	ReadySettled = "settled"
	// ReadyUnknown: such an init's processes still changed at the boot
	// timeout; it runs, as upstream's would, and nothing more is known.
	ReadyUnknown = "unknown"
)

// Signal numbers of Linux, where the engine runs; the package's portable
// files cannot take them from x/sys/unix on every GOOS.
const (
	sigINT  = 2
	sigUSR2 = 12
)

// ProgramSysvinit is ProgramOf's name for sysvinit.
const ProgramSysvinit = "sysvinit"

// ProgramOf recognizes an init by a string in the head of its binary:
// sysvinit sets INIT_VERSION=sysvinit-VERSION for what it starts. "" for
// anything else.
func ProgramOf(head []byte) string {
	if bytes.Contains(head, []byte("INIT_VERSION=sysvinit")) {
		return ProgramSysvinit
	}
	return ""
}

// settleWatch tells when an init that does not report readiness has
// settled: when the set of processes in the instance's cgroup has not
// changed for quiet. The init's rc scripts and respawned gettys come and
// go while it boots; a system that is up runs the same processes.
type settleWatch struct {
	quiet time.Duration
	last  []int
	since time.Time
}

// settleQuiet is how long an instance's processes must stay the same.
const settleQuiet = 2 * time.Second

// observe records the instance's processes at now and says whether they
// have been the same for quiet. An empty set (a cgroup not readable) never
// settles.
func (w *settleWatch) observe(now time.Time, pids []int) bool {
	pids = slices.Clone(pids)
	slices.Sort(pids)
	if len(pids) == 0 || !slices.Equal(pids, w.last) {
		w.last, w.since = pids, now
		return false
	}
	return now.Sub(w.since) >= w.quiet
}
