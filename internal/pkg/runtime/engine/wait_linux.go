package engine

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"github.com/apptainer/apptainer/internal/pkg/signal"
	"golang.org/x/sys/unix"
)

// waitid waits until pid has exited without reaping it (WNOWAIT), so the
// exit status stays for exec.Cmd.Wait.
func waitid(pid int, info *unix.Siginfo) error {
	return unix.Waitid(unix.P_PID, pid, info, unix.WEXITED|unix.WNOWAIT, nil)
}

// exited reports, without blocking or reaping, whether pid has exited.
func exited(pid int) bool {
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil); err != nil {
		return true // not our child any more, or gone
	}
	return siginfoPid(&info) == pid
}

// siginfoPidOffset is where si_pid lies in a siginfo_t, which x/sys/unix
// leaves opaque: after si_signo, si_errno and si_code (three int32), at the
// alignment of a pointer, since the union that holds it contains pointers
// (16 on 64-bit machines, 12 on 32-bit ones).
const siginfoPidOffset = (12 + unsafe.Alignof(uintptr(0)) - 1) / unsafe.Alignof(uintptr(0)) * unsafe.Alignof(uintptr(0))

// siginfoPid returns si_pid of a waitid result (0 when nothing exited).
func siginfoPid(info *unix.Siginfo) int {
	raw := (*[unsafe.Sizeof(*info)]byte)(unsafe.Pointer(info))
	return int(int32(binary.NativeEndian.Uint32(raw[siginfoPidOffset : siginfoPidOffset+4])))
}

// si_code values of SIGCHLD (linux/signal.h); x/sys/unix lacks them.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// siginfoStatus returns si_status and si_code of a waitid result: the exit
// status with CLD_EXITED, the signal with CLD_KILLED or CLD_DUMPED.
// si_status follows si_pid and si_uid.
func siginfoStatus(info *unix.Siginfo) (status int, code int32) {
	raw := (*[unsafe.Sizeof(*info)]byte)(unsafe.Pointer(info))
	const at = siginfoPidOffset + 8
	return int(int32(binary.NativeEndian.Uint32(raw[at : at+4]))), info.Code
}

// closeInheritedOnExec marks every descriptor above 2 close-on-exec: those
// Go opened already are, but those the caller left open for the CLI (a
// directory, a root-only log) are not, and would reach an instance's
// monitor, and from there its init. Passing descriptors through is for
// foreground commands only.
func closeInheritedOnExec() {
	if unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	// Kernels before 5.11.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// leaveSessionKeyring gives this process a new anonymous session keyring
// in place of the caller's (root's keys), before it becomes an instance's
// process.
func leaveSessionKeyring() error {
	// A NULL name makes a new anonymous keyring; a name (even "") would
	// join, or share, a keyring of that name.
	_, _, joinErr := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	var probeErr unix.Errno
	if joinErr == unix.EPERM {
		// Asking for the id of one's own session keyring is refused only
		// by a filter over every keyring call.
		_, _, probeErr = unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, keySpecSessionKeyring, 0)
	}
	if keyringLeft(joinErr, probeErr) {
		return nil
	}
	return fmt.Errorf("failed to join a new session keyring: %w", joinErr)
}

// keySpecSessionKeyring is KEY_SPEC_SESSION_KEYRING, the caller's session
// keyring (x/sys/unix has no name for it).
const keySpecSessionKeyring = ^uintptr(2) // -3

// keyringLeft decides from the errors of joining a new session keyring
// (join) and of asking for the session keyring's id (probe, tried only
// after an EPERM) whether this process is rid of the caller's keys. A
// kernel without keyrings has none (ENOSYS). When both calls are refused
// with EPERM, a seccomp filter refuses every keyring call, as that of a
// booted instance (or Docker's default) does to a runtime nested in it:
// filters are inherited and cannot be removed, so neither this process
// nor anything it starts can reach a key, and there is nothing to leave.
// An EPERM for the join alone is some other refusal, and an error.
func keyringLeft(join, probe unix.Errno) bool {
	switch join {
	case 0, unix.ENOSYS:
		return true
	case unix.EPERM:
		return probe == unix.EPERM
	}
	return false
}

// signalName names a signal in messages: "SIGKILL", "SIGRTMIN+3".
func signalName(sig unix.Signal) string { return signal.Name(sig) }
