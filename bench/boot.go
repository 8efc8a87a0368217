package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// bootGroup boots the image with each runtime in turn, Boots times, and
// stops it again. Interleaving the runtimes spreads slow drifts (page
// cache, a busy neighbour) over all of them instead of one.
func (r *runner) bootGroup(ctx context.Context, c config) error {
	hnStart, hnStop := r.s(caseHostnetStart, Seconds), r.s(caseHostnetStop, Seconds)
	noUsernsStart := r.s(caseNoUsernsStart, Seconds)
	cniStart, cniStop := r.s(caseCNIStart, Seconds), r.s(caseCNIStop, Seconds)
	nsStart, nsStop := r.s(caseNspawnStart, Seconds), r.s(caseNspawnStop, Seconds)
	var cmpStart *Series
	if r.CompareBin != "" {
		cmpStart = r.s(caseCompareStart, Seconds)
	}
	// One boot each first, not counted: it pulls the image into the page
	// cache and creates the CNI bridge, which later boots reuse.
	for i := -1; i < c.Boots; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		keep := i >= 0
		name := fmt.Sprintf("bench-hn-%d", i+1)
		if err := r.bootStop(keep, hnStart, hnStop, name, "--boot", "--boot-hostnet"); err != nil {
			return err
		}
		if cmpStart != nil {
			name = fmt.Sprintf("bench-cmp-%d", i+1)
			if err := r.bootStopWith(r.CompareBin, keep, cmpStart, name, "--boot", "--boot-hostnet"); err != nil {
				return err
			}
		}
		name = fmt.Sprintf("bench-nu-%d", i+1)
		if err := r.bootStop(keep, noUsernsStart, nil, name, "--boot", "--boot-hostnet", "--boot-hostnet-userns=false"); err != nil {
			return err
		}
		up, down, err := r.nspawnCycle(fmt.Sprintf("bench-ns-%d", i+1))
		if err != nil {
			return err
		}
		if keep {
			nsStart.AddDuration(up)
			nsStop.AddDuration(down)
		}
		name = fmt.Sprintf("bench-cni-%d", i+1)
		if err := r.bootStop(keep, cniStart, cniStop, name, "--boot"); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "boot %d/%d done\n", i+1, c.Boots)
	}
	return nil
}

// bootStop times `instance start` (which returns once systemd said READY)
// and then `instance stop` (which returns once init halted and the
// instance was cleaned up).
func (r *runner) bootStop(keep bool, start, stop *Series, name string, flags ...string) error {
	args := append(append([]string{}, flags...), r.Image, name)
	d, err := r.startInstance(args...)
	if err != nil {
		return err
	}
	s, err := r.timedApp("instance", "stop", "-t", "20", name)
	if err != nil {
		return err
	}
	if keep {
		start.AddDuration(d)
		if stop != nil {
			stop.AddDuration(s)
		}
	}
	return nil
}

// bootStopWith times `instance start` of another apptainer binary (the
// -compare build) and stops the instance with it.
func (r *runner) bootStopWith(bin string, keep bool, start *Series, name string, flags ...string) error {
	args := append(append([]string{"instance", "start"}, flags...), r.Image, name)
	r.defer_(func() { _ = r.appCmdOf(bin, "instance", "stop", "-t", "20", name).Run() })
	t0 := time.Now()
	out, err := r.appCmdOf(bin, args...).CombinedOutput()
	d := time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s %v: %w: %s", bin, args, err, out)
	}
	if out, err := r.appCmdOf(bin, "instance", "stop", "-t", "20", name).CombinedOutput(); err != nil {
		return fmt.Errorf("%s instance stop %s: %w: %s", bin, name, err, out)
	}
	if keep {
		start.AddDuration(d)
	}
	return nil
}

// nspawnCycle boots the same rootfs with systemd-nspawn and stops it.
func (r *runner) nspawnCycle(name string) (time.Duration, time.Duration, error) {
	n, err := r.nspawnStart(name)
	if err != nil {
		return 0, 0, err
	}
	up, err := n.waitReady(60 * time.Second)
	if err != nil {
		n.kill()
		return 0, 0, err
	}
	down, err := n.stop(30 * time.Second)
	return up, down, err
}
