package sdnotify

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends to one notification socket.
type Notifier struct {
	addr string
}

// FromEnv returns the notifier of NOTIFY_SOCKET, and removes the variable
// from the environment: nothing this process starts (the monitor, the
// container) is to talk to the service manager in its name. Without the
// variable it returns nil, nil: not run as a Type=notify service.
func FromEnv() (*Notifier, error) {
	v, ok := os.LookupEnv(Env)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(Env)
	addr, err := Address(v)
	if err != nil {
		return nil, err
	}
	return &Notifier{addr: addr}, nil
}

// Send sends one message (NAME=VALUE lines). A nil Notifier sends nothing.
func (n *Notifier) Send(msg string) error {
	return n.send(msg, nil)
}

// send sends msg with oob (descriptors) from a socket of its own, whose
// credentials (this PID) systemd checks against the unit's main PID.
func (n *Notifier) send(msg string, oob []byte) error {
	if n == nil {
		return nil
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// x/sys/unix makes a leading '@' the NUL of an abstract address.
	if err := unix.Sendmsg(fd, []byte(msg), oob, &unix.SockaddrUnix{Name: n.addr}, 0); err != nil {
		return fmt.Errorf("cannot notify systemd through %s: %w", n.addr, err)
	}
	return nil
}

// Barrier waits until systemd has read every message this process sent
// before it (sd_notify_barrier(3)): the write end of a pipe goes with a
// BARRIER=1 message, and systemd closes it once it got that far. Exiting
// right after READY=1 without it, systemd could see this process exit
// before it read the message. A nil Notifier waits for nothing.
func (n *Notifier) Barrier() error {
	if n == nil {
		return nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	defer unix.Close(p[0])
	err := n.send("BARRIER=1", unix.UnixRights(p[1]))
	unix.Close(p[1])
	if err != nil {
		return err
	}
	fds := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLHUP}}
	deadline := time.Now().Add(barrierTimeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("systemd did not take the notification within %s", barrierTimeout)
		}
		nready, err := unix.Poll(fds, int(left.Milliseconds())+1)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case nready > 0:
			return nil
		}
	}
}
