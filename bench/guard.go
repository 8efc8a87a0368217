package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/hostnet"
)

// guardGroup times the host-network guard's snapshot (hostnet.Take) in the
// throwaway host, as the instance monitor takes it: the baseline before
// start (firewall included), the snapshot after READY and after stop
// (the firewall reused while nf_tables did not move), and the baseline of
// an instance without a user namespace, which also records the kernel.*,
// vm.* and fs.* sysctls and binfmt_misc. The three are interleaved; two
// uncounted warm-up rounds. The host here is the bench's throwaway
// namespace with a veth pair added; the kernel part is the machine's.
func (r *runner) guardGroup(ctx context.Context, c config) error {
	base, check, kernel := r.s(caseGuardBaseline, Seconds), r.s(caseGuardCheck, Seconds), r.s(caseGuardKernel, Seconds)
	for _, args := range [][]string{
		{"link", "add", "bench-gd0", "type", "veth", "peer", "name", "bench-gd1"},
		{"link", "set", "bench-gd0", "up"},
		{"link", "set", "bench-gd1", "up"},
		{"addr", "add", "10.251.0.1/24", "dev", "bench-gd0"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %v: %w: %s", args, err, out)
		}
		if args[0] == "link" && args[1] == "add" {
			defer exec.Command("ip", "link", "del", "bench-gd0").Run()
		}
	}
	// The whole process is in the throwaway namespace: no thread needs to
	// enter it, but one thread keeps the measurements comparable.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	first, err := hostnet.Take(hostnet.SnapshotOptions{})
	if err != nil {
		return fmt.Errorf("guard snapshot: %w", err)
	}
	timed := func(s *Series, keep bool, opts hostnet.SnapshotOptions) error {
		t0 := time.Now()
		_, err := hostnet.Take(opts)
		if err != nil {
			return fmt.Errorf("guard snapshot: %w", err)
		}
		if keep {
			s.AddDuration(time.Since(t0))
		}
		return nil
	}
	for i := -2; i < c.Execs && ctx.Err() == nil; i++ {
		keep := i >= 0
		if err := timed(base, keep, hostnet.SnapshotOptions{}); err != nil {
			return err
		}
		if err := timed(check, keep, hostnet.SnapshotOptions{PreviousNetfilter: &first.Netfilter}); err != nil {
			return err
		}
		if err := timed(kernel, keep, hostnet.SnapshotOptions{Kernel: true}); err != nil {
			return err
		}
	}
	return ctx.Err()
}
