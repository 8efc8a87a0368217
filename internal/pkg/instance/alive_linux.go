package instance

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// processLook is what the liveness decision knows of one process. The
// host's look pins the process with a pidfd while it reads, so every field
// describes the same process even if its PID is recycled meanwhile.
type processLook struct {
	// gone: there is no such process, or it has exited (a zombie that
	// nobody reaped yet is gone too: it will never act again).
	gone bool
	// cmdline is /proc/<pid>/cmdline.
	cmdline []byte
	// cmdlineErr is set when the command line could not be read although
	// the process exists (hidepid=, a permission quirk).
	cmdlineErr error
}

// lookAtProcess takes a look; a variable so that tests can stand in for
// the host.
var lookAtProcess = lookWithPidfd

// Alive reports whether the monitor recorded in f still runs. Its verdict
// agrees with upstream's rule (PPid is positive, exists, and its command
// line starts with MonitorPrefix, which tells a recycled PID apart), except
// that it is never fooled by a monitor that is executing a new program:
// between the moment execve replaces a process's memory and the moment the
// kernel records where its new arguments lie, /proc/<pid>/cmdline reads
// empty, exactly as for an exited process. Our monitors re-execute
// themselves once the instance runs, so the empty command line of a live
// process must not be taken for death: deleting a live instance's files
// hides it from list and stop while it runs on.
func Alive(f *File) bool {
	return f != nil && f.PPid > 0 && monitorAlive(lookAtProcess(f.PPid))
}

// monitorAlive is the liveness decision.
func monitorAlive(l processLook) bool {
	switch {
	case l.gone:
		return false
	case l.cmdlineErr != nil:
		// Presumed alive: deleting a live instance's files would orphan
		// it, while a wrongly kept ghost is purged by a later listing.
		return true
	case len(l.cmdline) == 0:
		// Neither exited nor a zombie: the process is in execve (or
		// between releasing its memory and becoming a zombie, on its way
		// out). Either way it is not yet somebody else's PID.
		return true
	}
	return bytes.HasPrefix(l.cmdline, []byte(MonitorPrefix))
}

// lookWithPidfd looks at pid while a pidfd holds it: what is read after
// pidfd_open and before the pidfd reports an exit belongs to that very
// process, and a zombie shows as exited. Kernels before 5.3 have no
// pidfds; lookWithoutPidfd serves them.
func lookWithPidfd(pid int) processLook {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return processLook{gone: true}
	}
	if err != nil {
		return lookWithoutPidfd(pid)
	}
	defer unix.Close(fd)
	l := processLook{}
	l.cmdline, l.cmdlineErr = readProc(pid, "cmdline")
	l.gone = pidfdExited(fd)
	return l
}

// pidfdExited reports, without waiting, whether the process of a pidfd has
// exited; it is readable from the moment the process is a zombie.
func pidfdExited(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
	}
}

// lookWithoutPidfd is the look on kernels without pidfds: the process
// state in /proc/<pid>/stat tells a zombie from a process in execve. A
// PID recycled between the reads can mislead it, for one look.
func lookWithoutPidfd(pid int) processLook {
	if errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
		return processLook{gone: true}
	}
	l := processLook{}
	l.cmdline, l.cmdlineErr = readProc(pid, "cmdline")
	stat, err := readProc(pid, "stat")
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ESRCH):
		l.gone = true
	case err == nil:
		state := statState(stat)
		l.gone = state == 'Z' || state == 'X' || state == 'x'
	}
	if errors.Is(l.cmdlineErr, fs.ErrNotExist) || errors.Is(l.cmdlineErr, unix.ESRCH) {
		l.gone = true
	}
	return l
}

// statState returns the state letter of a /proc/<pid>/stat line, which
// follows the command name in parentheses (the name may hold ")" itself,
// so the last one counts); 0 if the line is malformed.
func statState(stat []byte) byte {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return 0
	}
	return stat[i+2]
}

func readProc(pid int, file string) ([]byte, error) {
	return os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + file)
}

// SignalMonitor sends sig to the monitor recorded in f. The signal goes
// through a pidfd taken before the liveness check, so it cannot reach a
// process that took over the PID after the monitor exited.
func SignalMonitor(f *File, sig unix.Signal) error {
	if f.PPid <= 0 {
		return ErrMonitorGone
	}
	fd, err := unix.PidfdOpen(f.PPid, 0)
	if errors.Is(err, unix.ESRCH) {
		return ErrMonitorGone
	}
	if err != nil {
		if !Alive(f) {
			return ErrMonitorGone
		}
		return unix.Kill(f.PPid, sig)
	}
	defer unix.Close(fd)
	if !Alive(f) {
		return ErrMonitorGone
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrMonitorGone
		}
		return err
	}
	return nil
}

// WaitGone waits up to d for the monitor recorded in f to exit and reports
// whether it has. It sleeps on a pidfd, so it returns the moment the
// monitor is gone; where pidfds are unavailable it polls every 10ms.
func WaitGone(f *File, d time.Duration) bool {
	deadline := time.Now().Add(d)
	fd, err := unix.PidfdOpen(f.PPid, 0)
	if err != nil {
		for Alive(f) {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(10 * time.Millisecond)
		}
		return true
	}
	defer unix.Close(fd)
	// Checked after opening: the pidfd now pins the process Alive looked
	// at, not a later owner of a recycled PID.
	if !Alive(f) {
		return true
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return !Alive(f)
		}
		if n > 0 {
			return true
		}
	}
}

// SignalInit sends sig to the PID 1 recorded in f, through a pidfd, after
// checking that the process it holds is a child of f's monitor and that
// the monitor is alive. A PID 1 that has exited stays its monitor's zombie
// until the monitor reaps it, so a process that passes the check is the
// instance's, not a later owner of a recycled PID.
func SignalInit(f *File, sig unix.Signal) error {
	fd, err := pinInit(f)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrInitGone
		}
		return err
	}
	return nil
}

// InitAlive reports whether the PID 1 recorded in f runs as a child of
// f's live monitor (see SignalInit).
func InitAlive(f *File) bool {
	fd, err := pinInit(f)
	if err != nil {
		return false
	}
	_ = unix.Close(fd)
	return true
}

// pinInit returns a pidfd of the PID 1 recorded in f, checked to be a
// running child of f's live monitor.
func pinInit(f *File) (int, error) {
	if f.Pid <= 0 || f.PPid <= 0 {
		return -1, ErrInitGone
	}
	fd, err := unix.PidfdOpen(f.Pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return -1, ErrInitGone
	}
	if err != nil {
		return -1, err
	}
	// Read after the pidfd was taken and before it reports an exit, the
	// stat line is the pinned process's own.
	stat, err := readProc(f.Pid, "stat")
	if err != nil || pidfdExited(fd) || statPPid(stat) != f.PPid || !Alive(f) {
		_ = unix.Close(fd)
		return -1, ErrInitGone
	}
	return fd, nil
}

// statPPid returns the parent PID from a /proc/<pid>/stat line (the field
// after the state letter); 0 if the line is malformed.
func statPPid(stat []byte) int {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 2 {
		return 0
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return 0
	}
	return ppid
}
