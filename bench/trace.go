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
	own := r.s(caseRuntimeOwn, Seconds)
	for i := 0; i < max(c.Boots, 3) && ctx.Err() == nil; i++ {
		d, steps, err := r.reportedBoot(fmt.Sprintf("bench-rt-%d", i+1))
		if err != nil {
			return err
		}
		own.AddDuration(d)
		for _, st := range steps {
			r.s(traceCase(st.name), Seconds).AddDuration(st.after)
		}
	}
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

// reportedBoot reads the runtime's own trace point: with -v, instance start
// prints the time from the CLI's start to the exec of /sbin/init, measured
// inside the runtime without a tracer.
func (r *runner) reportedBoot(name string) (time.Duration, []traceStep, error) {
	cmd := r.appCmd("-v", "instance", "start", "--boot", "--boot-hostnet", r.Image, name)
	r.defer_(func() {
		if _, ok := monitors()[name]; ok {
			_, _ = r.app("instance", "stop", "-t", "20", name)
		}
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, nil, fmt.Errorf("instance start %s: %w: %s", name, err, out)
	}
	d, err := parseRuntimeTime(string(out))
	if err != nil {
		return 0, nil, err
	}
	steps, err := parseRuntimeTrace(string(out))
	if err != nil {
		return 0, nil, err
	}
	if _, err := r.app("instance", "stop", "-t", "20", name); err != nil {
		return 0, nil, err
	}
	return d, steps, nil
}

// traceStep is one step of `instance start -v`'s runtime trace.
type traceStep struct {
	name  string
	after time.Duration
}

// parseRuntimeTrace reads "runtime trace (ms after CLI start): STEP +N, …".
func parseRuntimeTrace(out string) ([]traceStep, error) {
	const marker = "runtime trace (ms after CLI start): "
	for _, line := range strings.Split(out, "\n") {
		_, rest, ok := strings.Cut(line, marker)
		if !ok {
			continue
		}
		var steps []traceStep
		for _, item := range strings.Split(rest, ", ") {
			i := strings.LastIndex(item, " +")
			if i < 0 {
				return nil, fmt.Errorf("bad runtime trace item %q", item)
			}
			var ms float64
			if _, err := fmt.Sscanf(item[i+2:], "%f", &ms); err != nil {
				return nil, fmt.Errorf("bad runtime trace item %q: %w", item, err)
			}
			steps = append(steps, traceStep{item[:i], time.Duration(ms * float64(time.Millisecond))})
		}
		return steps, nil
	}
	return nil, fmt.Errorf("instance start -v printed no runtime trace")
}

// parseRuntimeTime finds "runtime time from CLI start to exec of X: N ms".
func parseRuntimeTime(out string) (time.Duration, error) {
	const marker = "runtime time from CLI start to exec of "
	for _, line := range strings.Split(out, "\n") {
		_, rest, ok := strings.Cut(line, marker)
		if !ok {
			continue
		}
		_, val, ok := strings.Cut(rest, ": ")
		if !ok {
			break
		}
		var ms float64
		if _, err := fmt.Sscanf(val, "%f ms", &ms); err != nil {
			return 0, fmt.Errorf("bad runtime time line %q: %w", line, err)
		}
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	return 0, fmt.Errorf("instance start -v printed no runtime time")
}
