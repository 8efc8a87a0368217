package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/termtext"
)

// baselineFile is where the monitor keeps the host-network snapshot taken
// before the instance started.
const baselineFile = "hostnet-baseline.json"

// hostGuard proves that a booted instance on the host network left the
// host's network state alone: it compares snapshots taken before start,
// after READY and after stop. The monitor runs in the host's network
// namespace, so its snapshots are the host's.
type hostGuard struct {
	resolv   string
	baseline *hostnet.Snapshot
	// saved is where saveBaseline put the baseline.
	saved string
	// complete, when set, is closed once the baseline is whole and saved
	// (see completeBaseline); completeErr then says whether that worked.
	complete    chan struct{}
	completeErr error
}

type baselineResult struct {
	guard *hostGuard
	// finish records the baseline's firewall part (hostnet.TakeDeferred).
	finish func() error
	err    error
	// at is when the snapshot was ready for "go" (a trace point).
	at time.Time
}

// firewallSkipped says why an ordinary user's guard does not record the
// firewall, which only root may read; "" for root's.
func firewallSkipped() string {
	if !userMonitor() {
		return ""
	}
	return "not recorded: reading the firewall needs root, and an instance in a user namespace of an ordinary user's cannot change it"
}

// takeBaseline is takeBaselineFor without the kernel state: the guard of
// an instance in a user namespace.
func takeBaseline(resolv string) <-chan baselineResult {
	return takeBaselineFor(resolv, false)
}

// takeBaselineFor records the host network state on another goroutine. It
// delivers as soon as everything but the firewall is recorded: nft runs
// on while the container starts, and completeBaseline collects it. kernel
// also records the kernel.*, vm.* and fs.* sysctls and binfmt_misc, which
// only an instance without a user namespace can change: the monitor
// passes cfg.UserNS == nil. Later snapshots record them when the baseline
// has them (check).
func takeBaselineFor(resolv string, kernel bool) <-chan baselineResult {
	out := make(chan baselineResult, 1)
	go func() {
		snap, finish, err := hostnet.TakeDeferred(hostnet.SnapshotOptions{ResolvConf: resolv, ListenerFilter: instanceListeners(0), Kernel: kernel, SkipFirewall: firewallSkipped()})
		if err != nil {
			out <- baselineResult{err: fmt.Errorf("failed to record the host network state: %w", err), at: time.Now()}
			return
		}
		g := &hostGuard{resolv: resolv, baseline: snap, complete: make(chan struct{})}
		out <- baselineResult{guard: g, finish: finish, at: time.Now()}
	}()
	return out
}

// completeBaseline finishes the baseline's firewall part and saves the
// baseline to path, in the background; check waits for it.
func (g *hostGuard) completeBaseline(finish func() error, path string) {
	go func() {
		err := finish()
		if err != nil {
			err = fmt.Errorf("failed to record the host firewall: %w", err)
		} else {
			err = g.saveBaseline(path)
		}
		g.completeErr = err
		close(g.complete)
	}()
}

func (g *hostGuard) saveBaseline(path string) error {
	g.saved = path
	b, err := json.Marshal(struct {
		ResolvConf string            `json:"resolvConf"`
		Snapshot   *hostnet.Snapshot `json:"snapshot"`
	}{g.resolv, g.baseline})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// check compares the host's state now with the baseline. Listening
// sockets count only when a process of the instance (PID 1 is pid) holds
// them: the host's own daemons come and go without the instance's doing.
func (g *hostGuard) check(pid int) (hostnet.Diff, error) {
	if g.complete != nil {
		<-g.complete
		if g.completeErr != nil {
			return hostnet.Diff{}, g.completeErr
		}
	}
	if g.baseline == nil && g.saved != "" {
		if err := g.load(g.saved); err != nil {
			return hostnet.Diff{}, err
		}
	}
	// nft runs again only if nf_tables moved to another generation. The
	// kernel state is recorded when the baseline has it (an instance
	// without a user namespace), so `hostnet diff` needs no option.
	now, err := hostnet.Take(hostnet.SnapshotOptions{
		ResolvConf: g.resolv, ListenerFilter: instanceListeners(pid), PreviousNetfilter: &g.baseline.Netfilter,
		Kernel: g.baseline.Kernel != nil, SkipFirewall: firewallSkipped(),
	})
	if err != nil {
		return hostnet.Diff{}, err
	}
	return hostnet.Compare(g.baseline, now), nil
}

// report writes the after-stop verdict to the error log and next to it as
// <name>.hostnet.json, which `instance stop` shows.
func (g *hostGuard) report(when string, paths instance.Paths, name string) {
	diff, err := g.check(0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "host-network guard (%s): %v\n", when, err)
		return
	}
	if diff.Empty() {
		fmt.Fprintf(os.Stderr, "host-network guard (%s): host network unchanged\n", when)
	} else {
		fmt.Fprintf(os.Stderr, "host-network guard (%s): the host network changed:\n%s\n", when, diffText(diff))
	}
	_, errPath := paths.LogPaths(name)
	if b, err := json.Marshal(diff); err == nil {
		_ = instance.WriteLog(GuardReportPath(errPath), b)
	}
}

// instanceListeners returns a filter that keeps the sockets held by
// processes in the PID namespace of pid (none when pid is 0 or gone).
func instanceListeners(pid int) func(uint64) bool {
	inodes := map[uint64]bool{}
	if pid > 0 {
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil {
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				if e.Name()[0] < '0' || e.Name()[0] > '9' {
					continue
				}
				if other, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err != nil || other != ns {
					continue
				}
				fds, _ := os.ReadDir("/proc/" + e.Name() + "/fd")
				for _, fd := range fds {
					link, err := os.Readlink("/proc/" + e.Name() + "/fd/" + fd.Name())
					if err != nil {
						continue
					}
					var ino uint64
					if _, err := fmt.Sscanf(link, "socket:[%d]", &ino); err == nil {
						inodes[ino] = true
					}
				}
			}
		}
	}
	return func(ino uint64) bool { return inodes[ino] }
}

// load reads a baseline written by saveBaseline.
func (g *hostGuard) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var saved struct {
		ResolvConf string            `json:"resolvConf"`
		Snapshot   *hostnet.Snapshot `json:"snapshot"`
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		return fmt.Errorf("corrupt host-network baseline %s: %w", path, err)
	}
	g.resolv, g.baseline, g.saved = saved.ResolvConf, saved.Snapshot, path
	return nil
}

// HostnetDiff compares the host's network state now with the baseline the
// monitor of a running --boot-hostnet instance recorded.
func HostnetDiff(f *instance.File) (hostnet.Diff, error) {
	if !f.BootHostnet {
		return hostnet.Diff{}, fmt.Errorf("instance %s does not share the host network (--boot-hostnet)", f.Name)
	}
	g := &hostGuard{}
	if err := g.load(filepath.Join(f.RunDir, baselineFile)); err != nil {
		return hostnet.Diff{}, fmt.Errorf("no host-network baseline for instance %s (guard off?): %w", f.Name, err)
	}
	return g.check(f.Pid)
}

// diffText renders a diff one change a line, each escaped: interface and
// object names can come from the instance.
func diffText(d hostnet.Diff) string {
	lines := make([]string, len(d.Changes))
	for i, c := range d.Changes {
		lines[i] = c.String()
	}
	return termtext.Join(lines, "\n")
}
