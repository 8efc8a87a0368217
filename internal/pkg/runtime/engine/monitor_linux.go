package engine

import (
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
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"golang.org/x/sys/unix"
)

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

	// The reader stops at the first message it cannot read: what follows
	// a broken line is not to be trusted either.
	type received struct {
		m   syncMsg
		err error
	}
	messages := make(chan received)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(messages)
		r := newSyncReader(statusR)
		for {
			m, err := r.next()
			if errors.Is(err, io.EOF) {
				return
			}
			select {
			case messages <- received{m, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	// stop asks the monitor to stop what it started and clean up, and
	// kills it if it does not, which leaves a ghost for the caller's
	// cleanup. It says which it was.
	stop := func() string {
		_ = cmd.Process.Signal(unix.SIGTERM)
		if waitExit(30 * time.Second) {
			return "it was stopped"
		}
		_ = cmd.Process.Kill()
		waitExit(10 * time.Second)
		return "it was killed"
	}
	// Each step of the monitor has a bound of its own; this is the
	// backstop, should one of them not hold.
	limit := startTimeout(cfg)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		select {
		case in, ok := <-messages:
			switch {
			case !ok:
				waitExit(30 * time.Second)
				msg := "the instance monitor exited before the instance was started"
				if tail := tailFile(errLog.Name(), 10); tail != "" {
					msg += "; the end of " + errLog.Name() + ":\n" + tail
				}
				return nil, errors.New(msg)
			case in.err != nil:
				return nil, fmt.Errorf("cannot read the instance monitor's status: %v; %s", in.err, stop())
			case in.m.Type == syncProgress:
				if progress != nil {
					progress(in.m.Progress)
				}
			case in.m.Type == syncError:
				waitExit(30 * time.Second)
				return nil, errors.New(in.m.Error)
			case in.m.Type == syncResult:
				res := in.m.Result
				if len(res.Trace) > 0 {
					// The CLI's own steps come first.
					at := time.Duration(spawnAt.UnixNano() - cfg.TraceStart)
					res.Trace = append([]TracePoint{{"monitor spawned", at}}, res.Trace...)
				}
				res.MonitorPid = cmd.Process.Pid
				return res, nil
			default:
				return nil, fmt.Errorf("the instance monitor sent a %q message on its status pipe; %s", in.m.Type, stop())
			}
		case <-deadline.C:
			return nil, fmt.Errorf("the instance did not start within %s; %s", limit, stop())
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
	// onMainThread: the monitor's goroutine is locked to the process's
	// main thread, the one that cloned PID 1 (see becomeResident).
	onMainThread bool
	paths        instance.Paths
	file         *instance.File
	runDir       string
	cgPath       string
	// v1Cgroups are the instance's cgroups in the v1 hierarchies of a
	// hybrid host (see cgroup.V1Paths).
	v1Cgroups []string
	cgFD      *os.File
	notify    *notifyListener
	// init is the booted image's init, known once PID 1 executed it.
	init    BootInit
	console *console
	c       *container
	guard   *hostGuard
	// baseline is the guard's baseline while it is being taken; a failed
	// start waits for it, so no firewall tool outlives the monitor.
	baseline *baselineWait
	stopping chan os.Signal
	// releaseIDs frees the user namespace's id range.
	releaseIDs func()
	// stopWith is a pidfd of the process whose exit stops the instance
	// (config.Instance.StopWith), or 0.
	stopWith int
}

// watchStopWith makes the exit of the process behind pidfd a stop request:
// the instance shared by --sharens containers ends with their parent
// process at the latest, even if the last of them was killed before it
// could stop it.
func (m *monitor) watchStopWith(pidfd int) {
	m.stopWith = pidfd
	go func() {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, -1)
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case err == nil && n > 0:
				m.stopping <- unix.SIGTERM
			}
			return
		}
	}()
}

func (m *monitor) progress(s string) { _ = writeSync(m.status, progressMsg(s)) }

// monitorMain is the monitor process.
func monitorMain(onMainThread bool) (int, error) {
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
	m := &monitor{cfg: cfg, status: os.NewFile(syncFD, "status"), onMainThread: onMainThread}
	unix.CloseOnExec(syncFD)
	closeInheritedOnExec()
	if cfg.UserNS != nil {
		// Host mounts still reach this namespace; nothing goes back.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
			err = fmt.Errorf("failed to make the monitor's mount namespace a slave of the host's: %w", err)
			_ = writeSync(m.status, errorMsg(err))
			return 1, err
		}
	}
	// A stop request aimed at the monitor stops the instance cleanly.
	m.stopping = stopRequests()
	if pid := cfg.Instance.StopWith; pid > 0 {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			err = fmt.Errorf("cannot watch the process %d the instance lives with: %w", pid, err)
			_ = writeSync(m.status, errorMsg(err))
			return 1, err
		}
		m.watchStopWith(fd)
	}

	res, err := m.start()
	if err != nil {
		m.cleanup()
		_ = writeSync(m.status, errorMsg(err))
		m.status.Close()
		return 1, err
	}
	_ = writeSync(m.status, resultMsg(res))
	m.status.Close()
	if err := m.becomeResident(); err != nil {
		fmt.Fprintf(os.Stderr, "instance %s: the monitor stays as it is (%v)\n", m.cfg.Instance.Name, err)
	}
	m.shrink()
	return m.run(), nil
}

// applyLimits sets the instance's resource limits (--memory, --cpus, ...)
// before anything runs in its cgroups.
func (m *monitor) applyLimits() error {
	r := m.cfg.Spec.Linux.Resources
	if !cgroup.HasLimits(r) {
		return nil
	}
	v1, err := cgroup.InstanceV1(m.cfg.Instance.User, m.cfg.Instance.Name, m.v1Cgroups)
	if err != nil {
		return err
	}
	where, err := cgroup.ApplyLimits(r, m.cgPath, v1)
	if err != nil {
		return err
	}
	m.progress("resource limits set in " + where)
	return nil
}

// prepareBoot makes what a booted init needs on the host side: its cgroup,
// the notify socket, /run/host and the console.
func (m *monitor) prepareBoot() error {
	var err error
	if m.cgFD, err = cgroup.Create(m.cgPath); err != nil {
		return err
	}
	if err := m.applyLimits(); err != nil {
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
	switch {
	case m.cfg.UserNS != nil:
		notifyOwner = int(m.cfg.UserNS.HostID)
	case userMonitor():
		// --fakeroot maps the instance's root to the user.
		notifyOwner = os.Getuid()
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

// waitReady waits until the boot is over: READY=1 from init, or for an
// init that does not report readiness its processes settling, or the boot
// timeout (a failure only for an init that reports readiness). It fails
// when init exits first, or when the instance is stopped meanwhile.
func (m *monitor) waitReady() (string, error) {
	if m.init.Notifies {
		m.progress("booting " + m.cfg.Spec.Process.Args[0] + " (waiting for systemd to report ready)")
	} else {
		m.progress(fmt.Sprintf("booting %s (%s does not report readiness: waiting until its processes settle, at most %s)",
			m.cfg.Spec.Process.Args[0], m.init.Name, m.cfg.Boot.Timeout))
	}
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
	// A READY=1 counts from any init (a wrapper script that executes
	// systemd, say); the processes are watched only for one that does
	// not report readiness.
	var poll <-chan time.Time
	watch := settleWatch{quiet: settleQuiet}
	if !m.init.Notifies {
		t := time.NewTicker(settlePoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-m.notify.ready:
			m.drainStatus()
			return ReadyNotified, nil
		case s := <-m.notify.status:
			m.progress(s)
		case <-poll:
			if pids, err := cgroup.Pids(m.cgPath); err == nil && watch.observe(time.Now(), pids) {
				return ReadySettled, nil
			}
		case <-initExited:
			return "", fmt.Errorf("init exited before the system was ready; the end of the console log:\n%s", tailFile(m.file.LogOutPath, 15))
		case <-timer.C:
			if !m.init.Notifies {
				return ReadyUnknown, nil
			}
			m.stopInit(5 * time.Second)
			return "", fmt.Errorf("the system was not ready after %s (--boot-timeout); the end of the console log:\n%s", m.cfg.Boot.Timeout, tailFile(m.file.LogOutPath, 15))
		case <-m.stopping:
			m.setState(instance.StateStopping)
			m.stopInit(10 * time.Second)
			return "", errors.New("the instance was stopped while it booted")
		}
	}
}

// settlePoll is how often the processes of a booting instance whose init
// does not report readiness are listed.
const settlePoll = 100 * time.Millisecond

// drainStatus passes on the STATUS= texts still queued: select picks at
// random among ready cases, so one sent just before READY=1 may wait.
func (m *monitor) drainStatus() {
	for {
		select {
		case s := <-m.notify.status:
			m.progress(s)
		default:
			return
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
	exitedPID1, asked := false, false
	go func() {
		for range m.stopping {
			stateMu.Lock()
			if !exitedPID1 {
				m.setState(instance.StateStopping)
				asked = true
			}
			stateMu.Unlock()
			_ = unix.Kill(m.c.pid, m.stopSignal())
		}
	}()
	ws, err := m.c.wait()
	stateMu.Lock()
	exitedPID1 = true
	asked = asked || stopWasRequested(m.runDir)
	stateMu.Unlock()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR:   waiting for the instance: %v\n", err)
	}
	fmt.Fprintf(os.Stderr, "instance %s: %s\n", m.cfg.Instance.Name, describeExit(ws, m.cfg.Boot != nil))
	m.setState(instance.StateStopping)
	m.cleanup()
	if err != nil {
		return 1
	}
	return monitorExitCode(ws, m.cfg.Boot != nil, asked)
}

// monitorExitCode is the monitor's exit code once PID 1 ended, which is
// what a service manager that runs the monitor as a unit's main process
// (apptainer-instance@.service) judges the instance by: 0 when the end
// was asked for (instance stop, or a stop request to the monitor) or was
// PID 1's own clean halt or poweroff (a booted init that exited 0, or
// that the kernel ended with SIGINT, see describeExit); otherwise PID 1's
// status in the shell's way: its exit status, or 128 plus the signal that
// killed it. A booted init's reboot (exit 133, or SIGHUP) is thus a
// failure, which Restart=on-failure turns into the reboot it asked for.
func monitorExitCode(ws unix.WaitStatus, boot, stopRequested bool) int {
	switch {
	case stopRequested:
		return 0
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled() && boot && ws.Signal() == unix.SIGINT:
		return 0
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
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

// stopSignal is how PID 1 is asked to stop: its init's own halt signal
// (SIGRTMIN+3 for systemd), else SIGINT, as upstream.
func (m *monitor) stopSignal() unix.Signal {
	if m.cfg.Boot == nil {
		return unix.SIGINT
	}
	if m.init.StopSignal != 0 {
		return unix.Signal(m.init.StopSignal)
	}
	return unix.Signal(m.cfg.Boot.StopSignal)
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
	if err := m.writeRecord(); err != nil {
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
	// Let the firewall tool finish rather than orphan it.
	m.baseline.drain()
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
		if err := removeRunDir(m.runDir); err != nil {
			fmt.Fprintf(os.Stderr, "WARNING: %v\n", err)
		}
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
