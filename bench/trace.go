package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// traceGroup measures the runtime's own share of a boot from outside,
// with no trace point in the engine: strace records the execve of the CLI
// and of /sbin/init with microsecond timestamps. Only execve stops the
// tracees (--seccomp-bpf), but every fork is still followed, so the value
// is an upper bound of the untraced time.
func (r *runner) traceGroup(ctx context.Context, c config) error {
	span := r.s(caseRuntime, Seconds)
	if _, err := exec.LookPath("strace"); err != nil {
		return fmt.Errorf("strace is needed (apt-get install strace): %w", err)
	}
	n := max(c.Boots/2, 3)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		d, err := r.tracedBoot(fmt.Sprintf("bench-tr-%d", i+1))
		if err != nil {
			return err
		}
		span.AddDuration(d)
	}
	return ctx.Err()
}

func (r *runner) tracedBoot(name string) (time.Duration, error) {
	out := filepath.Join(r.Top, name+".strace")
	args := []string{"-f", "-ttt", "-q", "-I", "2", "--seccomp-bpf", "-e", "trace=execve", "-e", "signal=none", "-o", out,
		r.Bin, "instance", "start", "--boot", "--boot-hostnet", r.Image, name}
	cmd := exec.Command("strace", args...)
	cmd.Env = r.appCmd().Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r.defer_(func() {
		if _, ok := monitors()[name]; ok {
			_, _ = r.app("instance", "stop", "-t", "20", name)
		}
	})
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("failed to start strace: %w", err)
	}
	// strace follows the monitor and systemd after the CLI returns and
	// would never exit: once the CLI's exit is in the log, detach it.
	deadline := time.Now().Add(60 * time.Second)
	var text string
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(out)
		text = string(b)
		if cliExited(text) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if !cliExited(text) {
		return 0, fmt.Errorf("traced start of %s did not finish within 60s", name)
	}
	b, _ := os.ReadFile(out)
	events, err := parseStraceExecs(string(b))
	if err != nil {
		return 0, err
	}
	d, err := runtimeSpan(events, "/sbin/init")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", out, err)
	}
	if _, err := r.app("instance", "stop", "-t", "20", name); err != nil {
		return 0, err
	}
	return d, nil
}

// cliExited reports whether the first traced process (the CLI) has exited.
func cliExited(text string) bool {
	first, _, ok := strings.Cut(strings.TrimSpace(text), " ")
	if !ok {
		return false
	}
	return containsLine(text, first, "+++ exited with")
}

// containsLine reports whether a line of pid contains s.
func containsLine(text, pid, s string) bool {
	for _, l := range strings.Split(text, "\n") {
		if f, _, _ := strings.Cut(l, " "); f == pid && strings.Contains(l, s) {
			return true
		}
	}
	return false
}
