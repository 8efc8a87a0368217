package engine

import (
	"encoding/binary"
	"unsafe"

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

// siginfoPid returns si_pid of a waitid result (0 when nothing exited):
// si_signo, si_errno and si_code, padding to 8 bytes, then si_pid.
func siginfoPid(info *unix.Siginfo) int {
	raw := (*[unsafe.Sizeof(*info)]byte)(unsafe.Pointer(info))
	return int(int32(binary.NativeEndian.Uint32(raw[16:20])))
}
