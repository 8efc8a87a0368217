package instance

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// processProbe gives the liveness decision its view of the host, so the
// decision can be tested without processes.
type processProbe struct {
	// signal0 sends signal 0 to pid: nil or EPERM if it exists, ESRCH if not.
	signal0 func(pid int) error
	// cmdline returns /proc/<pid>/cmdline.
	cmdline func(pid int) ([]byte, error)
}

// hostProbe looks at the real host.
var hostProbe = processProbe{
	signal0: func(pid int) error { return unix.Kill(pid, 0) },
	cmdline: func(pid int) ([]byte, error) {
		return os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	},
}

// Alive reports whether the monitor recorded in f still runs. It applies
// upstream's rules, so both runtimes agree on which instances are ghosts:
// PPid must be positive, must exist, and its command line must start with
// MonitorPrefix (a recycled PID belongs to some other program; an exited but
// unreaped monitor has an empty command line).
func Alive(f *File) bool {
	return f != nil && monitorAlive(f.PPid, hostProbe)
}

// monitorAlive is the liveness decision. When the command line cannot be
// read although the process exists (hidepid=, or a permission quirk), the
// monitor is presumed alive: deleting a live instance's files would orphan
// it, while a wrongly kept ghost is purged by a later listing.
func monitorAlive(ppid int, probe processProbe) bool {
	if ppid <= 0 {
		return false
	}
	if errors.Is(probe.signal0(ppid), unix.ESRCH) {
		return false
	}
	cmdline, err := probe.cmdline(ppid)
	if err != nil {
		// The process may have exited between the two looks; only a
		// second ESRCH proves that.
		return !errors.Is(probe.signal0(ppid), unix.ESRCH)
	}
	return bytes.HasPrefix(cmdline, []byte(MonitorPrefix))
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
