package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// A process joined to an instance is the instance's: the image decides
// what it runs and what it leaves behind. Given the caller's terminal, a
// process it leaves behind keeps that terminal open after the join
// returns. It can then push input into the caller's shell with TIOCSTI
// (which the shell runs on the host, as the caller), or read what the
// caller types next. So the caller's terminal never enters an instance:
// when any of the caller's descriptors 0 to 2 is a terminal, the joined
// process gets a pseudo-terminal of its own in its place, as its
// controlling terminal in a session of its own (nsenter's "session"), and
// this process copies between the two until the joined process exits.
// Then it closes the pseudo-terminal: whatever is left inside reads end
// of file, and nothing it writes reaches the caller.

// CallerHasTerminal reports whether one of this process's descriptors 0
// to 2 is a terminal, in which case joins go through JoinWithTerminal.
func CallerHasTerminal() bool {
	for fd := 0; fd <= 2; fd++ {
		if term.IsTerminal(fd) {
			return true
		}
	}
	return false
}

// JoinWithTerminal runs jc inside the instance whose PID 1 has host PID
// pid, with a pseudo-terminal of its own in place of each of the caller's
// descriptors 0 to 2 that is a terminal, and returns its exit status.
func JoinWithTerminal(pid int, jc JoinConfig) (int, error) {
	var isTerm [3]bool
	for fd := range isTerm {
		isTerm[fd] = term.IsTerminal(fd)
	}
	master, slave, err := pty.Open()
	if err != nil {
		return 255, fmt.Errorf("failed to allocate a pseudo-terminal for the instance: %w", err)
	}
	defer slave.Close()
	master, err = pollable(master)
	if err != nil {
		return 255, err
	}
	defer master.Close()
	resize := func() {
		for fd, ok := range isTerm {
			if ok {
				if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
					_ = unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, ws)
				}
				return
			}
		}
	}
	resize()

	cmd, err := JoinCommand(pid, jc)
	if err != nil {
		return 255, err
	}
	std := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for fd, ok := range isTerm {
		if ok {
			std[fd] = slave
		}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = std[0], std[1], std[2]

	// The caller's terminal passes every key through, ^C and ^Z included:
	// the pseudo-terminal's line discipline inside acts on them.
	if isTerm[0] {
		state, err := term.MakeRaw(0)
		if err != nil {
			return 255, fmt.Errorf("failed to set the terminal to raw mode: %w", err)
		}
		defer func() { _ = term.Restore(0, state) }()
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGWINCH, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)

	err = cmd.Start()
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
	if err != nil {
		return 255, fmt.Errorf("failed to join the instance: %w", err)
	}
	// Only the joined process holds the slave now: once it and what it
	// left behind are gone, reading the master ends.
	slave.Close()

	out := os.Stdout
	if !isTerm[1] && isTerm[2] {
		out = os.Stderr
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, master)
	}()
	if isTerm[0] {
		// Ends with this process; a read in flight does not hold it up.
		go func() { _, _ = io.Copy(master, os.Stdin) }()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			if s == unix.SIGWINCH {
				resize()
				continue
			}
			_ = cmd.Process.Signal(s)
			continue
		case err = <-done:
		}
		break
	}
	// What the joined process wrote before it exited is in the master;
	// a process it left behind may keep writing, which no longer reaches
	// the caller.
	_ = master.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	<-copied
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitCode(), nil
	}
	return 255, err
}
