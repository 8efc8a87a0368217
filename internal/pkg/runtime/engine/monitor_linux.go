package engine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/cgroup"
	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// StartResult is what `instance start` reports once the instance runs.
type StartResult struct {
	Pid         int      `json:"pid"`
	IP          string   `json:"ip,omitempty"`
	State       string   `json:"state,omitempty"`
	FailedUnits []string `json:"failedUnits,omitempty"`
	// HostnetChanges is the guard's report after READY ("" when unchanged).
	HostnetChanges string   `json:"hostnetChanges,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// IDMapHost is the first host id of the instance's user namespace.
	IDMapHost uint32 `json:"idMapHost,omitempty"`
	// RuntimeTime is the time from the CLI's start to the exec of the
	// instance's PID 1 (when config.TraceStart was set).
	RuntimeTime time.Duration `json:"runtimeTime,omitempty"`
	// Trace lists the steps of that time, in order.
	Trace []TracePoint `json:"trace,omitempty"`
}

// TracePoint is a step of an instance start, as time since the CLI began.
type TracePoint struct {
	Step  string        `json:"step"`
	After time.Duration `json:"after"`
}

// StartInstance starts the instance's monitor and waits until the instance
// runs (for --boot: until systemd is ready) or failed. Progress lines go to
// progress as they arrive. Nothing of a failed start is left behind: the
// monitor cleans up before it reports the error.
func StartInstance(cfg *config.Config, outLog, errLog *os.File, progress func(string)) (*StartResult, error) {
	cp, err := newConfigPipe(cfg)
	if err != nil {
		return nil, err
	}
	closeInheritedOnExec()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		cp.abort()
		return nil, err
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		cp.abort()
		return nil, err
	}
	defer devNull.Close()
	cmd := exec.Command(engineBinary())
	cmd.Args = []string{instance.MonitorName(cfg.Instance.User, cfg.Instance.Name)}
	cmd.Env = append(os.Environ(), StageEnv+"="+stageMonitor)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, outLog, errLog
	cmd.ExtraFiles = []*os.File{cp.r, statusW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cfg.UserNS != nil {
		// The monitor assembles the container's root in a mount namespace
		// of its own (rootfs_linux.go); none of it is seen on the host,
		// and all of it goes with the monitor.
		cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNS
	}
	spawnAt := time.Now()
	err = cmd.Start()
	statusW.Close()
	if err != nil {
		cp.abort()
		statusR.Close()
		return nil, fmt.Errorf("failed to start instance monitor: %w", err)
	}
	cp.started()
	go func() { _ = cp.sendWithin(stageTimeout) }()
	defer statusR.Close()
	// The monitor lives on after a successful start; reap it if it dies
	// first. After a failed start it has cleaned up and is exiting: wait
	// for it, so that nothing of the instance exists when we return.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	waitExit := func(d time.Duration) bool {
		select {
		case <-exited:
			return true
		case <-time.After(d):
			return false
		}
	}

	messages := make(chan stageMessage)
	go func() {
		defer close(messages)
		sc := bufio.NewScanner(statusR)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			var m stageMessage
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				messages <- m
			}
		}
	}()
	// Each step of the monitor has a bound of its own; this is the
	// backstop, should one of them not hold.
	limit := startTimeout(cfg)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		select {
		case m, ok := <-messages:
			switch {
			case !ok:
				waitExit(30 * time.Second)
				msg := "the instance monitor exited before the instance was started"
				if tail := tailFile(errLog.Name(), 10); tail != "" {
					msg += "; the end of " + errLog.Name() + ":\n" + tail
				}
				return nil, errors.New(msg)
			case m.Progress != "":
				if progress != nil {
					progress(m.Progress)
				}
			case m.Error != "":
				waitExit(30 * time.Second)
				return nil, errors.New(m.Error)
			case m.Result != nil:
				if len(m.Result.Trace) > 0 {
					// The CLI's own steps come first.
					at := time.Duration(spawnAt.UnixNano() - cfg.TraceStart)
					m.Result.Trace = append([]TracePoint{{"monitor spawned", at}}, m.Result.Trace...)
				}
				return m.Result, nil
			}
		case <-deadline.C:
			// Asked to stop, the monitor stops what it started and
			// cleans up; killed, it leaves a ghost for the caller's
			// cleanup.
			_ = cmd.Process.Signal(unix.SIGTERM)
			how := "it was stopped"
			if !waitExit(30 * time.Second) {
				_ = cmd.Process.Kill()
				waitExit(10 * time.Second)
				how = "it was killed"
			}
			return nil, fmt.Errorf("the instance did not start within %s; %s", limit, how)
		}
	}
}

// startTimeout bounds how long `instance start` waits for the monitor's
// result: the boot timeout, the container stage's setup and the CNI
// passes, with room to spare for a loaded machine.
func startTimeout(cfg *config.Config) time.Duration {
	d := 2*stageTimeout + time.Minute
	if cfg.Boot != nil {
		d += cfg.Boot.Timeout
	}
	if cfg.Network != nil {
		d += 2 * cniTimeout * time.Duration(len(cfg.Network.Networks)+1)
	}
	return d
}

// monitor keeps one instance: it starts it, reports to the CLI, waits for
// PID 1 to exit and then undoes everything the start made.
type monitor struct {
	cfg    *config.Config
	status *os.File
	paths  instance.Paths
	file   *instance.File
	runDir string
	cgPath string
	// v1Cgroups are the instance's cgroups in the v1 hierarchies of a
	// hybrid host (see cgroup.V1Paths).
	v1Cgroups []string
	cgFD      *os.File
	notify    *notifyListener
	console   *console
	c         *container
	guard     *hostGuard
	// pendingBaseline is the guard's baseline while it is being taken;
	// a failed start waits for it, so no firewall tool outlives the
	// monitor.
	pendingBaseline <-chan baselineResult
	stopping        chan os.Signal
	// releaseIDs frees the user namespace's id range.
	releaseIDs func()
}

func (m *monitor) progress(s string) { _ = writeMessage(m.status, stageMessage{Progress: s}) }

// monitorMain is the monitor process.
func monitorMain() (int, error) {
	f := os.NewFile(configFD, "config")
	blob, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return 1, err
	}
	cfg, err := config.Decode(blob)
	if err != nil {
		return 1, err
	}
	m := &monitor{cfg: cfg, status: os.NewFile(syncFD, "status")}
	unix.CloseOnExec(syncFD)
	closeInheritedOnExec()
	if cfg.UserNS != nil {
		// Host mounts still reach this namespace; nothing goes back.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
			err = fmt.Errorf("failed to make the monitor's mount namespace a slave of the host's: %w", err)
			_ = writeMessage(m.status, stageMessage{Error: err.Error()})
			return 1, err
		}
	}
	// A stop request aimed at the monitor stops the instance cleanly.
	m.stopping = stopRequests()

	res, err := m.start()
	if err != nil {
		m.cleanup()
		_ = writeMessage(m.status, stageMessage{Error: err.Error()})
		m.status.Close()
		return 1, err
	}
	_ = writeMessage(m.status, stageMessage{Result: res})
	m.status.Close()
	if err := m.becomeResident(); err != nil {
		fmt.Fprintf(os.Stderr, "instance %s: the monitor stays as it is (%v)\n", m.cfg.Instance.Name, err)
	}
	m.shrink()
	return m.run(), nil
}

// start brings the instance up and records it.
func (m *monitor) start() (*StartResult, error) {
	inst := m.cfg.Instance
	// The guard's baseline is the slowest step before init may run (links,
	// routes, hundreds of sysctls, the firewall tool): it is taken while
	// everything else is prepared and the container stage starts, and the
	// container does nothing before it gets "go", which waits for it.
	var baseline <-chan baselineResult
	if m.cfg.HostNet != nil && m.cfg.HostNet.Guard != config.GuardOff {
		m.progress("recording the host network state")
		// Without a user namespace root in the instance is host root: the
		// guard also records the kernel's own settings (kernel.*, vm.*,
		// fs.* sysctls, binfmt_misc), which only it could change.
		baseline = takeBaselineFor(m.cfg.HostNet.ResolvConf, m.cfg.UserNS == nil)
		m.pendingBaseline = baseline
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	m.paths = instance.Paths{ConfigDir: inst.ConfigDir, Hostname: host, User: inst.User}
	outPath, errPath := m.paths.LogPaths(inst.Name)
	m.file = &instance.File{
		PPid: os.Getpid(), Name: inst.Name, User: inst.User, Image: m.cfg.Image,
		LogOutPath: outPath, LogErrPath: errPath, State: instance.StateStarting,
		Boot: m.cfg.Boot != nil, BootHostnet: m.cfg.HostNet != nil,
		Started: time.Now().UTC(),
	}
	if m.cfg.HostNet != nil {
		m.file.MaskedUnits = m.cfg.HostNet.MaskedUnits
		m.file.HostnetGuard = string(m.cfg.HostNet.Guard)
	}
	if m.cfg.Network != nil {
		m.file.Networks = m.cfg.Network.Networks
	}
	if ok, path := m.cfg.HasNamespace(specs.NetworkNamespace); ok && path != "" {
		m.file.NetnsPath = path
	}
	if m.cfg.Boot != nil {
		m.file.ContainerUUID = m.cfg.Boot.ContainerUUID
	}
	if m.file.Config, err = m.cfg.Encode(); err != nil {
		return nil, err
	}
	// Everything host-side this instance will own is recorded before it
	// exists, so that if this monitor is killed at any point the ghost
	// cleanup (ReleaseGhost) finds it. The fields of m stay unset until the
	// name is ours: a refused start must not touch a live instance's.
	runDir := instanceRunDir(inst.User, inst.Name)
	m.file.RunDir = runDir
	var cgPath string
	if m.cfg.Boot != nil {
		mnt, err := cgroup.Mountpoint()
		if err != nil {
			return nil, err
		}
		cgPath = cgroup.Path(mnt, inst.User, inst.Name)
		m.file.Cgroup, m.file.CgroupPaths = true, []string{cgPath}
		// Without a user namespace root in the instance is host root, and
		// may mount a v1 hierarchy: it must find its own cgroup there as
		// the root, not the hierarchy's (see cgroup.V1Paths). In a user
		// namespace the kernel refuses it the release_agent anyway.
		if m.cfg.UserNS == nil {
			v1, err := cgroup.V1Paths(inst.User, inst.Name)
			if err != nil {
				return nil, err
			}
			m.file.CgroupPaths = append(m.file.CgroupPaths, v1...)
		}
	}
	// The id range is taken before the instance file is written, so that
	// the file is written once with it. A monitor killed in between leaves
	// a slot naming a dead PID, which the next allocation reuses.
	if u := m.cfg.UserNS; u != nil {
		if u.HostID, m.releaseIDs, err = allocateIDs(u.Size); err != nil {
			return nil, err
		}
		m.file.UserNs, m.file.IDMapHost, m.file.IDMapSize = true, u.HostID, u.Size
	}
	// The runtime directory and cgroup are per user and name, not per
	// store: another store's live instance of this name may own them. The
	// directory is claimed, and the record written into it, before the
	// instance file exists: whoever finds the file finds the record that
	// root acts on (see record_linux.go). A live instance of this name in
	// this store owns the directory, so the claim fails for it too.
	if err := claimRunDir(runDir, inst.User, inst.Name, m.paths.ConfigDir); err != nil {
		return nil, err
	}
	m.runDir = runDir
	if err := writeRecord(runDir, m.paths.ConfigDir, m.file); err != nil {
		return nil, err
	}
	if err := m.paths.Create(m.file); err != nil {
		return nil, err
	}
	m.cgPath = cgPath
	if len(m.file.CgroupPaths) > 1 {
		m.v1Cgroups = m.file.CgroupPaths[1:]
	}
	recordedAt := time.Now().UnixNano()

	if err := os.MkdirAll(filepath.Join(m.runDir, "host"), 0o755); err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", m.runDir, err)
	}
	// Searchable but not listable: the root of a user namespace is no
	// host root, and must still reach its console and /run/host.
	for d := m.runDir; d != filepath.Dir(RunRoot()); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			return nil, err
		}
	}
	if u := m.cfg.UserNS; u != nil {
		m.progress(fmt.Sprintf("user namespace: container ids 0-%d are host ids %d-%d", u.Size-1, u.HostID, u.HostID+u.Size-1))
	}
	stdout, stderr := os.Stdout, os.Stderr
	if m.cfg.Boot != nil {
		if err := m.prepareBoot(); err != nil {
			return nil, err
		}
		stdout, stderr = m.console.slave, m.console.slave
		if u := m.cfg.UserNS; u != nil {
			if err := delegate(u.HostID, m.cgPath, m.console.slave.Name()); err != nil {
				return nil, err
			}
		}
	}
	var baselineErr error
	var baselineAt time.Time
	var baselineOnce sync.Once
	waitBaseline := func() error {
		if baseline != nil {
			baselineOnce.Do(func() {
				r := <-baseline
				m.pendingBaseline = nil
				baselineAt = r.at
				if baselineErr = r.err; baselineErr == nil {
					r.guard.completeBaseline(r.finish, filepath.Join(m.runDir, baselineFile))
					m.guard = r.guard
				}
			})
		}
		return baselineErr
	}
	stdin := stdout
	if m.cfg.Boot == nil {
		if stdin, err = os.Open(os.DevNull); err != nil {
			return nil, err
		}
	}
	m.progress("starting " + describe(m.cfg))
	m.c, err = spawn(m.cfg, spawnOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr, CgroupFD: m.cgFD, V1Cgroups: m.v1Cgroups, RunDir: m.runDir, Progress: m.progress, BeforeGo: waitBaseline, Started: m.expectInit})
	if err != nil {
		_ = waitBaseline() // spawn may have failed before waiting
		return nil, err
	}
	m.file.Pid = m.c.pid
	m.file.IP = m.c.ip
	if m.cfg.Boot == nil {
		// The shim is PID 1 and stays; one that is gone already did not
		// start.
		if exited(m.c.pid) {
			return nil, fmt.Errorf("the instance's PID 1 exited at once%s", m.c.exitDescription())
		}
		m.file.State = instance.StateRunning
	}
	if err := m.save(); err != nil {
		return nil, err
	}

	res := &StartResult{Pid: m.file.Pid, IP: m.file.IP, IDMapHost: m.file.IDMapHost}
	if t0 := m.cfg.TraceStart; t0 != 0 && m.c.execAt != 0 {
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
		if !baselineAt.IsZero() {
			point("host network baseline recorded", baselineAt.UnixNano())
		}
		point("container stage let go", m.c.goAt)
		point("exec", m.c.execAt)
	}
	if m.cfg.Boot != nil {
		if err := m.waitReady(); err != nil {
			return nil, err
		}
	}
	// Once init is ready, its state and the guard's look at the host are
	// independent: both are taken at once.
	stateDone := make(chan struct{})
	go func() {
		defer close(stateDone)
		if m.cfg.Boot != nil {
			sc, _ := SeccompOf(m.cfg) // refused at spawn if it were invalid
			res.State, res.FailedUnits = bootState(m.c.pid, sc)
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
	if m.guard != nil {
		err := guardErr
		if err != nil {
			res.Warnings = append(res.Warnings, "host-network guard: "+err.Error())
		} else if !diff.Empty() {
			res.HostnetChanges = diffText(diff)
			fmt.Fprintf(os.Stderr, "host-network guard: the host network changed after boot:\n%s\n", res.HostnetChanges)
			if m.cfg.HostNet.Guard == config.GuardFail {
				return nil, fmt.Errorf("the host network changed while the instance booted (boot hostnet guard = fail); the instance was stopped:\n%s", res.HostnetChanges)
			}
		}
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

// prepareBoot makes what a booted init needs on the host side: its cgroup,
// the notify socket, /run/host and the console.
func (m *monitor) prepareBoot() error {
	var err error
	if m.cgFD, err = cgroup.Create(m.cgPath); err != nil {
		return err
	}
	// In a user namespace the monitor builds the container's root, and the
	// cgroup gets its device policy now; otherwise the stage attaches it
	// once it has built the root (see stageFiles).
	if rules := devicePolicy(m.cfg); m.cfg.UserNS != nil && len(rules) > 0 {
		if err := cgroup.ApplyDevicePolicy(m.cgPath, rules); err != nil {
			return err
		}
	}
	host := filepath.Join(m.runDir, "host")
	if err := writeHostFiles(host, m.cfg.HostNet != nil, m.cfg.Boot.ContainerUUID); err != nil {
		return err
	}
	// Only the instance's root may reach the socket: the host id of a user
	// namespace's root, or root.
	notifyOwner := 0
	if u := m.cfg.UserNS; u != nil {
		notifyOwner = int(u.HostID)
	}
	if m.notify, err = listenNotify(host, notifyOwner); err != nil {
		return err
	}
	if m.console, err = openConsole(m.runDir); err != nil {
		return err
	}
	m.console.logTo(newConsoleLog(m.file.LogOutPath, m.cfg.Boot.ConsoleLogMax))
	return nil
}

// waitReady waits for READY=1, init's death or the boot timeout.
func (m *monitor) waitReady() error {
	m.progress("booting " + m.cfg.Spec.Process.Args[0] + " (waiting for systemd to report ready)")
	initExited := make(chan struct{})
	go func() {
		// Watch without reaping: the exit status is collected in run().
		for {
			var info unix.Siginfo
			if err := waitid(m.c.pid, &info); !errors.Is(err, unix.EINTR) {
				close(initExited)
				return
			}
		}
	}()
	timer := time.NewTimer(m.cfg.Boot.Timeout)
	defer timer.Stop()
	for {
		select {
		case <-m.notify.ready:
			// select picks at random among ready cases: a status sent
			// just before READY=1 is still waiting.
			for drained := false; !drained; {
				select {
				case s := <-m.notify.status:
					m.progress(s)
				default:
					drained = true
				}
			}
			return nil
		case s := <-m.notify.status:
			m.progress(s)
		case <-initExited:
			return fmt.Errorf("init exited before the system was ready; the end of the console log:\n%s", tailFile(m.file.LogOutPath, 15))
		case <-timer.C:
			m.stopInit(5 * time.Second)
			return fmt.Errorf("the system was not ready after %s (--boot-timeout); the end of the console log:\n%s", m.cfg.Boot.Timeout, tailFile(m.file.LogOutPath, 15))
		case <-m.stopping:
			m.setState(instance.StateStopping)
			m.stopInit(10 * time.Second)
			return errors.New("the instance was stopped while it booted")
		}
	}
}

// shrink gives memory back once the instance runs: the monitor stays for
// the instance's lifetime, once per instance. The guard's baseline is on
// disk and is read again for the check after stop.
func (m *monitor) shrink() {
	if m.guard != nil {
		m.guard.baseline = nil
	}
	debug.FreeOSMemory()
}

// run waits for PID 1 to exit, then cleans up. It returns the monitor's
// exit code.
func (m *monitor) run() int {
	// Stop requests come as SIGTERM, SIGINT or SIGHUP to the monitor (a
	// start that was stopped before the instance ran, or an admin's kill);
	// each is passed to PID 1 as the instance's own stop signal.
	var stateMu sync.Mutex
	exitedPID1 := false
	go func() {
		for range m.stopping {
			stateMu.Lock()
			if !exitedPID1 {
				m.setState(instance.StateStopping)
			}
			stateMu.Unlock()
			_ = unix.Kill(m.c.pid, m.stopSignal())
		}
	}()
	ws, err := m.c.wait()
	stateMu.Lock()
	exitedPID1 = true
	stateMu.Unlock()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR:   waiting for the instance: %v\n", err)
	}
	fmt.Fprintf(os.Stderr, "instance %s: %s\n", m.cfg.Instance.Name, describeExit(ws, m.cfg.Boot != nil))
	m.setState(instance.StateStopping)
	m.cleanup()
	return 0
}

// expectInit tells the notify listener which process is the instance's
// PID 1, the only one whose READY=1 and STATUS= count.
func (m *monitor) expectInit(pid int) {
	if m.notify != nil {
		m.notify.expect(pid)
	}
}

// stopRequests delivers the signals that ask a monitor to stop its
// instance: SIGTERM (instance start gave up, or an admin's kill), SIGINT
// and SIGHUP (a terminal's, should the monitor ever have one).
func stopRequests() chan os.Signal {
	c := make(chan os.Signal, 4)
	signal.Notify(c, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	return c
}

// stopSignal is how PID 1 is asked to stop: the boot's stop signal
// (SIGRTMIN+3 for systemd), else SIGINT, as upstream.
func (m *monitor) stopSignal() unix.Signal {
	if m.cfg.Boot != nil {
		return unix.Signal(m.cfg.Boot.StopSignal)
	}
	return unix.SIGINT
}

// setState records the instance's state in its file, so that `instance
// list` shows an instance that is stopping as such. The file is the
// monitor's own; a failed write is only reported.
func (m *monitor) setState(state string) {
	if m.file == nil || m.file.PPid != os.Getpid() || m.file.State == state {
		return
	}
	m.file.State = state
	if err := m.save(); err != nil {
		fmt.Fprintf(os.Stderr, "WARNING: could not record that instance %s is %s: %v\n", m.file.Name, state, err)
	}
}

// save writes the monitor's record of the instance, then the instance
// file: the record first, so that a file never names a state the record
// does not have.
func (m *monitor) save() error {
	if err := writeRecord(m.runDir, m.paths.ConfigDir, m.file); err != nil {
		return err
	}
	return m.paths.Write(m.file)
}

// stopInit halts init (SIGRTMIN+3 for systemd), then kills it after grace.
func (m *monitor) stopInit(grace time.Duration) {
	if m.c == nil || m.c.pid == 0 {
		return
	}
	pid := m.c.pid
	_ = unix.Kill(pid, m.stopSignal())
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if exited(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = unix.Kill(pid, unix.SIGKILL)
}

// cleanup undoes whatever start made, in reverse order. It runs after a
// failed start and after PID 1 exited, and tolerates partial state.
func (m *monitor) cleanup() {
	if m.pendingBaseline != nil {
		// Let the firewall tool finish rather than orphan it.
		if r := <-m.pendingBaseline; r.finish != nil {
			_ = r.finish()
		}
		m.pendingBaseline = nil
	}
	if m.c != nil {
		if m.c.pid != 0 && !m.c.reaped {
			m.stopInit(5 * time.Second)
			_, _ = m.c.wait()
		}
		if err := m.c.releaseNetwork(); err != nil {
			fmt.Fprintf(os.Stderr, "WARNING: %v\n", err)
		}
	}
	if m.guard != nil {
		m.guard.report("after stop", m.paths, m.cfg.Instance.Name)
	}
	if m.notify != nil {
		m.notify.Close()
	}
	if m.console != nil {
		m.console.Close()
	}
	if m.cgFD != nil {
		m.cgFD.Close()
	}
	for _, p := range append([]string{m.cgPath}, m.v1Cgroups...) {
		if p == "" {
			continue
		}
		if err := cgroup.Remove(p, 5*time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "WARNING: %v\n", err)
		}
	}
	// The instance file goes before the runtime directory with the
	// record: a file is never without its record, so a CLI that finds a
	// file but no record knows it was not written by a monitor of ours
	// (or that the instance has just gone; see the CLI's trustedInstance).
	if m.file != nil && m.file.PPid == os.Getpid() {
		if cur, err := m.paths.Get(m.cfg.Instance.Name); err == nil && cur.PPid == os.Getpid() {
			_ = m.paths.Delete(m.cfg.Instance.Name)
		}
	}
	if m.runDir != "" {
		_ = os.RemoveAll(m.runDir)
	}
	if m.releaseIDs != nil {
		m.releaseIDs()
	}
}

func describe(cfg *config.Config) string {
	switch {
	case cfg.HostNet != nil:
		return "booted instance on the host network"
	case cfg.Boot != nil:
		return "booted instance"
	}
	return "instance"
}

// describeExit says how PID 1 ended, in the words of systemd's container
// interface: a pidns init that halted is killed by the kernel with SIGINT
// (halt/poweroff) or SIGHUP (reboot).
func describeExit(ws unix.WaitStatus, boot bool) string {
	switch {
	case boot && ws.Exited() && ws.ExitStatus() == 0:
		// systemd-shutdown in a container exits instead of calling reboot(2).
		return "init halted cleanly"
	case boot && ws.Exited() && ws.ExitStatus() == 133:
		return "init asked for a reboot and was stopped"
	case boot && ws.Signaled() && ws.Signal() == unix.SIGINT:
		return "init halted cleanly"
	case boot && ws.Signaled() && ws.Signal() == unix.SIGHUP:
		return "init asked for a reboot and was stopped"
	case ws.Signaled():
		return "init was killed by " + signalName(ws.Signal())
	}
	return "init exited with status " + strconv.Itoa(ws.ExitStatus())
}

func writePidFile(path string, pid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d\n", pid)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
