package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/cgroup"
	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// start brings the instance up and records it. Each step is one method;
// the order is what makes a killed monitor's leftovers findable (ghost
// cleanup) and a refused start harmless to the live instance it clashed
// with.
func (m *monitor) start() (*StartResult, error) {
	m.baseline = m.startBaseline()
	if err := m.describeInstance(); err != nil {
		return nil, err
	}
	if err := m.claimName(); err != nil {
		return nil, err
	}
	recordedAt := time.Now().UnixNano()
	if err := m.prepareRunDir(); err != nil {
		return nil, err
	}
	stdin, stdout, stderr, err := m.containerStdio()
	if err != nil {
		return nil, err
	}
	m.progress("starting " + describe(m.cfg))
	m.c, err = spawn(m.cfg, spawnOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr, CgroupFD: m.cgFD, V1Cgroups: m.v1Cgroups, RunDir: m.runDir, Progress: m.progress, BeforeGo: m.baseline.wait, Started: m.expectInit})
	// The guard exists from the moment its baseline was complete, which
	// the stage waited for unless it failed first.
	if m.baseline != nil {
		_ = m.baseline.wait()
		m.guard = m.baseline.guard
	}
	if err != nil {
		return nil, err
	}
	if m.cfg.Boot != nil {
		m.init = IdentifyInit(m.c.init, m.c.initProgram)
		m.file.Init, m.file.StopSignal = m.init.Name, m.init.StopSignal
	}
	if err := m.recordContainer(); err != nil {
		return nil, err
	}
	res := &StartResult{Pid: m.file.Pid, IP: m.file.IP, IDMapHost: m.file.IDMapHost}
	m.trace(res, recordedAt)
	if m.cfg.Boot != nil {
		res.Init = m.init.Name
		if res.Readiness, err = m.waitReady(); err != nil {
			return nil, err
		}
	}
	if err := m.lookAfterReady(res); err != nil {
		return nil, err
	}
	if err := m.save(); err != nil {
		return nil, err
	}
	if m.cfg.Instance.PidFile != "" {
		if err := writePidFile(m.cfg.Instance.PidFile, m.file.Pid); err != nil {
			res.Warnings = append(res.Warnings, "Failed to write pid file: "+err.Error())
		}
	}
	return res, nil
}

// startBaseline starts the guard's baseline, the slowest step before init
// may run (links, routes, hundreds of sysctls, the firewall tool): it is
// taken while everything else is prepared and the container stage starts,
// and the container does nothing before it gets "go", which waits for it.
// nil without a guard.
func (m *monitor) startBaseline() *baselineWait {
	if m.cfg.HostNet == nil || m.cfg.HostNet.Guard == config.GuardOff {
		return nil
	}
	m.progress("recording the host network state")
	// Without a user namespace root in the instance is host root: the
	// guard also records the kernel's own settings (kernel.*, vm.*, fs.*
	// sysctls, binfmt_misc), which only it could change.
	return &baselineWait{results: takeBaselineFor(m.cfg.HostNet.ResolvConf, m.cfg.UserNS == nil && !m.cfg.Unprivileged)}
}

// describeInstance fills the instance file with everything host-side this
// instance will own, before any of it exists, so that if this monitor is
// killed at any point the ghost cleanup (ReleaseGhost) finds it: the
// runtime directory, the cgroups, the id range of a user namespace. The
// fields of m itself stay unset until the name is ours (claimName): a
// refused start must not touch a live instance's.
func (m *monitor) describeInstance() error {
	inst := m.cfg.Instance
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	m.paths = instance.Paths{ConfigDir: inst.ConfigDir, Hostname: host, User: inst.User}
	outPath, errPath := m.paths.LogPaths(inst.Name)
	f := &instance.File{
		PPid: os.Getpid(), Name: inst.Name, User: inst.User, Image: m.cfg.Image,
		LogOutPath: outPath, LogErrPath: errPath, State: instance.StateStarting,
		Boot: m.cfg.Boot != nil, BootHostnet: m.cfg.HostNet != nil, ShareNSMode: inst.ShareNS,
		Started: time.Now().UTC(), RunDir: inst.RunDir,
	}
	if f.RunDir == "" {
		f.RunDir = instanceRunDir(inst.User, inst.Name)
	}
	m.file = f
	if m.cfg.HostNet != nil {
		f.MaskedUnits = m.cfg.HostNet.MaskedUnits
		f.HostnetGuard = string(m.cfg.HostNet.Guard)
	}
	if m.cfg.Network != nil {
		f.Networks = m.cfg.Network.Networks
	}
	if ok, path := m.cfg.HasNamespace(specs.NetworkNamespace); ok && path != "" {
		f.NetnsPath = path
	}
	if m.cfg.Boot != nil {
		f.ContainerUUID = m.cfg.Boot.ContainerUUID
	}
	if f.Config, err = m.cfg.Encode(); err != nil {
		return err
	}
	if m.cfg.Boot != nil {
		// Limits on a hybrid host live in the v1 hierarchies, which the
		// instance then joins even in a user namespace.
		v1 := m.cfg.UserNS == nil || cgroup.HasLimits(m.cfg.Spec.Linux.Resources)
		delegated := inst.DelegatedCgroup
		if userMonitor() {
			// A user may only make cgroups below one delegated to it
			// (systemd's user manager, or a Delegate=yes unit or
			// scope), and no v1 ones.
			v1, delegated = false, true
		}
		if f.CgroupPaths, err = instanceCgroups(inst.User, inst.Name, v1, delegated, !inst.DelegatedCgroup); err != nil {
			return err
		}
		f.Cgroup = true
	}
	// The id range is taken before the instance file is written, so that
	// the file is written once with it. A monitor killed in between leaves
	// a slot naming a dead PID, which the next allocation reuses.
	if u := m.cfg.UserNS; u != nil {
		if u.HostID, m.releaseIDs, err = allocateIDs(u.Size); err != nil {
			return err
		}
		f.UserNs, f.IDMapHost, f.IDMapSize = true, u.HostID, u.Size
	}
	return nil
}

// instanceCgroups are the cgroups of a booted instance: its cgroup2 one
// and, without a user namespace, one in each v1 hierarchy of a hybrid
// host. Root in the instance is host root then, and may mount a v1
// hierarchy: it must find its own cgroup there as the root, not the
// hierarchy's (see cgroup.V1Paths). In a user namespace the kernel refuses
// it the release_agent anyway. With delegated (--delegated-cgroup, from
// a systemd unit with Delegate=yes) the cgroup2 one goes below the
// monitor's own cgroup, the unit's, so that systemd counts the instance's
// processes as the unit's; the v1 ones, which are there for safety and
// not systemd's business, stay where they are.
//
// implied marks a delegated cgroup that nobody asked for (an ordinary
// user's: a user has no other), for messages.
func instanceCgroups(user, name string, v1, delegated, implied bool) ([]string, error) {
	mnt, err := cgroup.Mountpoint()
	if err != nil {
		return nil, err
	}
	unified := cgroup.Path(mnt, user, name)
	if delegated {
		what := "--delegated-cgroup"
		if implied {
			what = "a booted instance of an ordinary user needs a cgroup delegated to the user"
		}
		own, err := cgroup.Own()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if own == "/" {
			return nil, fmt.Errorf("%s: this process runs in the root cgroup, which no service manager delegates; run it from a systemd unit or scope with Delegate=yes (for a user: systemd-run --user --scope -p Delegate=yes apptainer instance start ...)", what)
		}
		unified = cgroup.DelegatedPath(mnt, own, user, name)
		if err := checkDelegated(filepath.Join(mnt, own)); err != nil {
			return nil, err
		}
	}
	paths := []string{unified}
	if v1 {
		more, err := cgroup.V1Paths(user, name)
		if err != nil {
			return nil, err
		}
		paths = append(paths, more...)
	}
	return paths, nil
}

// checkDelegated says what is wrong when this process may not make a
// cgroup below its own, dir: the cgroup was not delegated to its user.
// Root may, anywhere.
func checkDelegated(dir string) error {
	if unix.Access(dir, unix.W_OK) == nil && unix.Access(filepath.Join(dir, "cgroup.procs"), unix.W_OK) == nil {
		return nil
	}
	return fmt.Errorf("a booted instance needs a cgroup of its own, which this process may only make below a cgroup delegated to it, and its cgroup %s is not: run it from a systemd unit or scope with Delegate=yes (for a user: systemd-run --user --scope -p Delegate=yes apptainer instance start ...)", dir)
}

// claimName makes the instance ours. The runtime directory and cgroup are
// per user and name, not per store: another store's live instance of this
// name may own them. The directory is claimed, and the record written into
// it, before the instance file exists: whoever finds the file finds the
// record that root acts on (see record_linux.go). A live instance of this
// name in this store owns the directory, so the claim fails for it too.
func (m *monitor) claimName() error {
	inst := m.cfg.Instance
	if err := claimRunDir(m.file.RunDir, inst.User, inst.Name, m.paths.ConfigDir); err != nil {
		return err
	}
	m.runDir = m.file.RunDir
	if m.baseline != nil {
		m.baseline.runDir = m.runDir
	}
	if err := m.writeRecord(); err != nil {
		return err
	}
	if err := m.paths.Create(m.file); err != nil {
		return err
	}
	if len(m.file.CgroupPaths) > 0 {
		m.cgPath, m.v1Cgroups = m.file.CgroupPaths[0], m.file.CgroupPaths[1:]
	}
	return nil
}

// prepareRunDir makes the runtime directory's /run/host, searchable but
// not listable up to RunRoot: the root of a user namespace is no host
// root, and must still reach its console and /run/host. An ordinary
// user's runtime directory is the user's, in the user's configuration
// directory, and reached by the user's ids.
func (m *monitor) prepareRunDir() error {
	if err := os.MkdirAll(filepath.Join(m.runDir, "host"), 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", m.runDir, err)
	}
	if !userMonitor() {
		if err := m.openRunRoot(); err != nil {
			return err
		}
	}
	if u := m.cfg.UserNS; u != nil {
		m.progress(fmt.Sprintf("user namespace: container ids 0-%d are host ids %d-%d", u.Size-1, u.HostID, u.HostID+u.Size-1))
	}
	return nil
}

// openRunRoot makes root's runtime directory searchable up to RunRoot.
func (m *monitor) openRunRoot() error {
	for d := m.runDir; d != filepath.Dir(RunRoot()); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			return err
		}
	}
	return nil
}

// containerStdio returns PID 1's standard streams: the console for a booted
// instance (made here, with the cgroup and notify socket, see
// prepareBoot), else /dev/null in and the monitor's logs out.
func (m *monitor) containerStdio() (stdin, stdout, stderr *os.File, err error) {
	if m.cfg.Boot == nil {
		stdin, err = os.Open(os.DevNull)
		return stdin, os.Stdout, os.Stderr, err
	}
	if err := m.prepareBoot(); err != nil {
		return nil, nil, nil, err
	}
	if u := m.cfg.UserNS; u != nil {
		if err := delegate(u.HostID, m.cgPath, m.console.slave.Name()); err != nil {
			return nil, nil, nil, err
		}
	}
	return m.console.slave, m.console.slave, m.console.slave, nil
}

// recordContainer records PID 1 and its address once the container runs.
func (m *monitor) recordContainer() error {
	m.file.Pid = m.c.pid
	m.file.IP = m.c.ip
	if m.cfg.Boot == nil {
		// The shim is PID 1 and stays; one that is gone already did not
		// start.
		if exited(m.c.pid) {
			return fmt.Errorf("the instance's PID 1 exited at once%s", m.c.exitDescription())
		}
		m.file.State = instance.StateRunning
	}
	return m.save()
}

// trace adds the start's steps to res, for -v, when the CLI asked for them.
func (m *monitor) trace(res *StartResult, recordedAt int64) {
	t0 := m.cfg.TraceStart
	if t0 == 0 || m.c.execAt == 0 {
		return
	}
	res.RuntimeTime = time.Duration(m.c.execAt - t0)
	point := func(step string, at int64) {
		if at != 0 {
			res.Trace = append(res.Trace, TracePoint{step, time.Duration(at - t0)})
		}
	}
	point("monitor running", processStart.UnixNano())
	point("instance file written", recordedAt)
	point("container stage cloned", m.c.startedAt)
	point("container stage running", m.c.stageAt)
	if m.baseline != nil && !m.baseline.at.IsZero() {
		point("host network baseline recorded", m.baseline.at.UnixNano())
	}
	point("container stage let go", m.c.goAt)
	point("exec", m.c.execAt)
}

// lookAfterReady asks a booted init for the system state and has the guard
// compare the host with its baseline. The two are independent and taken at
// once. With "boot hostnet guard = fail" a change fails the start.
func (m *monitor) lookAfterReady(res *StartResult) error {
	stateDone := make(chan struct{})
	go func() {
		defer close(stateDone)
		switch {
		case m.cfg.Boot == nil:
		case res.Readiness == ReadyNotified:
			// systemd, or a script that executed it.
			sc, _ := SeccompOf(m.cfg) // refused at spawn if it were invalid
			res.State, res.FailedUnits = bootState(m.c.pid, sc)
		default:
			// Only systemd says how the system is.
			res.State = "unknown"
		}
	}()
	var diff hostnet.Diff
	var guardErr error
	if m.guard != nil {
		diff, guardErr = m.guard.check(m.file.Pid)
	}
	<-stateDone
	if m.cfg.Boot != nil {
		m.file.State, m.file.FailedUnits = res.State, res.FailedUnits
	}
	switch {
	case m.guard == nil:
	case guardErr != nil:
		res.Warnings = append(res.Warnings, "host-network guard: "+guardErr.Error())
	case !diff.Empty():
		res.HostnetChanges = diffText(diff)
		fmt.Fprintf(os.Stderr, "host-network guard: the host network changed %s:\n%s\n", guardMoment(res.Readiness), res.HostnetChanges)
		if m.cfg.HostNet.Guard == config.GuardFail {
			return fmt.Errorf("the host network changed while the instance booted (boot hostnet guard = fail); the instance was stopped:\n%s", res.HostnetChanges)
		}
	}
	return nil
}

// guardMoment says when the guard's check after the start ran: the
// moment a boot counts as started.
func guardMoment(readiness string) string {
	switch readiness {
	case ReadySettled:
		return "by the time init's processes settled"
	case ReadyUnknown:
		return "by the boot timeout (init's processes had not settled)"
	}
	return "after boot"
}

// baselineWait is the guard's baseline while it is being taken. The
// container stage is let go only once it is complete (wait is spawn's
// BeforeGo); a start that fails first lets it finish too (drain), so that
// the firewall tool is not orphaned. A nil baselineWait (no guard) waits
// for nothing.
type baselineWait struct {
	results <-chan baselineResult
	once    sync.Once
	// guard, err and at are set by wait: the guard with its complete
	// baseline, or why there is none, and when it was taken.
	guard *hostGuard
	err   error
	at    time.Time
	// runDir is where wait saves the baseline (the resident monitor and
	// hostnet diff read it there); set before wait runs.
	runDir string
}

// wait waits for the baseline and completes it; later calls return what
// the first one found.
func (b *baselineWait) wait() error {
	if b == nil {
		return nil
	}
	b.once.Do(func() {
		r := <-b.results
		b.at = r.at
		if b.err = r.err; b.err == nil {
			r.guard.completeBaseline(r.finish, filepath.Join(b.runDir, baselineFile))
			b.guard = r.guard
		}
	})
	return b.err
}

// drain lets a baseline that wait never took finish, and drops it.
func (b *baselineWait) drain() {
	if b == nil {
		return
	}
	b.once.Do(func() {
		if r := <-b.results; r.finish != nil {
			_ = r.finish()
		}
	})
}
