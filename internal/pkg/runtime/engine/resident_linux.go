package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/network"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"golang.org/x/sys/unix"
)

// A monitor spends a few hundred milliseconds starting an instance and then
// days waiting for it. Everything the start touched (the snapshot code,
// netlink, JSON, CNI, the image code) stays resident in a Go process, so
// once the instance runs the monitor re-executes itself, keeping its PID
// (PID 1 of the instance stays its child) and the few descriptors it still
// needs, and the fresh process only waits and cleans up.

// stateFDEnv names the descriptor holding the residentState.
const stateFDEnv = "_APPTAINER_MONITOR_STATE_FD"

// residentState is what a monitor hands over to its re-executed self. The
// instance file holds nearly everything; the rest are descriptors.
type residentState struct {
	// ConfigDir, Hostname and User make the instance.Paths.
	ConfigDir string         `json:"configDir"`
	Hostname  string         `json:"hostname"`
	User      string         `json:"user"`
	File      *instance.File `json:"file"`
	// NetnsRef is the bind mount that keeps a CNI network namespace.
	NetnsRef string `json:"netnsRef,omitempty"`
	// GuardResolv and GuardBaseline are the host-network guard's.
	GuardResolv   string `json:"guardResolv,omitempty"`
	GuardBaseline string `json:"guardBaseline,omitempty"`
	// ConsoleMaster, ConsoleSlave and Notify are inherited descriptors
	// (0: none).
	ConsoleMaster int `json:"consoleMaster,omitempty"`
	ConsoleSlave  int `json:"consoleSlave,omitempty"`
	Notify        int `json:"notify,omitempty"`
	// StopWith is the inherited pidfd of watchStopWith (0: none).
	StopWith int `json:"stopWith,omitempty"`
}

// becomeResident re-executes the monitor as a resident monitor. It returns
// only if that failed, with everything as it was.
//
// PID 1 of the instance dies with the thread that cloned it (Pdeathsig),
// and an exec ends every thread but the caller's: the exec must run on
// the thread that cloned, which is the main thread the stage is locked to.
func (m *monitor) becomeResident() error {
	if !m.onMainThread || unix.Gettid() != unix.Getpid() {
		return errors.New("not on the main thread")
	}
	st := residentState{ConfigDir: m.paths.ConfigDir, Hostname: m.paths.Hostname, User: m.paths.User, File: m.file}
	if m.c != nil {
		st.NetnsRef = m.c.netnsRef
	}
	if m.guard != nil {
		if m.guard.saved == "" {
			return errors.New("the host-network baseline was not saved")
		}
		st.GuardResolv, st.GuardBaseline = m.guard.resolv, m.guard.saved
	}
	var kept []int
	// keep duplicates a descriptor, without close-on-exec, through
	// SyscallConn: Fd() and File() would switch it to blocking mode under
	// the goroutines reading it, and Close would then wait for them.
	keep := func(c interface {
		SyscallConn() (syscall.RawConn, error)
	}) (int, error) {
		rc, err := c.SyscallConn()
		if err != nil {
			return -1, err
		}
		fd := -1
		var dupErr error
		if err := rc.Control(func(orig uintptr) { fd, dupErr = unix.Dup(int(orig)) }); err != nil {
			return -1, err
		}
		if dupErr != nil {
			return -1, dupErr
		}
		kept = append(kept, fd)
		return fd, nil
	}
	defer func() {
		for _, fd := range kept {
			unix.Close(fd)
		}
	}()
	var err error
	if m.console != nil {
		if st.ConsoleMaster, err = keep(m.console.master); err != nil {
			return err
		}
		if st.ConsoleSlave, err = keep(m.console.slave); err != nil {
			return err
		}
	}
	if m.notify != nil {
		if st.Notify, err = keep(m.notify.conn); err != nil {
			return err
		}
	}
	if m.stopWith > 0 {
		fd, err := unix.Dup(m.stopWith)
		if err != nil {
			return err
		}
		kept = append(kept, fd)
		st.StopWith = fd
	}
	blob, err := json.Marshal(st)
	if err != nil {
		return err
	}
	state, err := memFile("apptainer-monitor", blob)
	if err != nil {
		return err
	}
	defer state.Close()
	stateFD, err := keep(state)
	if err != nil {
		return err
	}
	env := append(os.Environ(), StageEnv+"="+stageResident, stateFDEnv+"="+strconv.Itoa(stateFD))
	// What the copier read must reach the log before the exec ends it.
	if m.console != nil && !m.console.pauseLogging() {
		return errors.New("the console could not be handed over")
	}
	err = unix.Exec(engineBinary(), []string{instance.MonitorName(m.cfg.Instance.User, m.cfg.Instance.Name)}, env)
	if m.console != nil {
		m.console.resumeLogging()
	}
	return fmt.Errorf("failed to re-execute the monitor: %w", err)
}

// residentMain is the monitor after becomeResident: it waits for PID 1,
// then undoes what the start made, like the monitor it replaced.
func residentMain() (int, error) {
	fd, err := strconv.Atoi(os.Getenv(stateFDEnv))
	if err != nil {
		return 1, fmt.Errorf("resident monitor: no state descriptor: %w", err)
	}
	os.Unsetenv(stateFDEnv)
	f := os.NewFile(uintptr(fd), "monitor-state")
	blob, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return 1, err
	}
	var st residentState
	if err := json.Unmarshal(blob, &st); err != nil || st.File == nil {
		return 1, fmt.Errorf("resident monitor: bad state: %v", err)
	}
	m, err := residentMonitor(&st)
	if err != nil {
		// PID 1 is still our child: without a monitor it must not
		// outlive us unwatched. Kill it; the next listing cleans up.
		if st.File.Pid > 0 {
			_ = unix.Kill(st.File.Pid, unix.SIGKILL)
		}
		return 1, err
	}
	return m.run(), nil
}

// residentMonitor rebuilds the monitor from the handed-over state.
func residentMonitor(st *residentState) (*monitor, error) {
	for _, fd := range []int{st.ConsoleMaster, st.ConsoleSlave, st.Notify, st.StopWith} {
		if fd > 0 {
			unix.CloseOnExec(fd) // not for CNI plugins or firewall tools
		}
	}
	cfg, err := config.Decode(st.File.Config)
	if err != nil {
		return nil, err
	}
	paths := instance.Paths{ConfigDir: st.ConfigDir, Hostname: st.Hostname, User: st.User}
	m := &monitor{cfg: cfg, paths: paths, file: st.File, runDir: st.File.RunDir}
	m.stopping = stopRequests()
	if st.StopWith > 0 {
		m.watchStopWith(st.StopWith)
	}
	if len(st.File.CgroupPaths) > 0 {
		m.cgPath, m.v1Cgroups = st.File.CgroupPaths[0], st.File.CgroupPaths[1:]
	}
	if host := st.File.IDMapHost; host != 0 {
		m.releaseIDs = func() { releaseIDsOf(host, os.Getpid()) }
	}
	if st.GuardBaseline != "" {
		m.guard = &hostGuard{resolv: st.GuardResolv, saved: st.GuardBaseline}
	}
	m.c = &container{cfg: cfg, pid: st.File.Pid, netnsRef: st.NetnsRef}
	if cfg.Network != nil && !network.IsNone(cfg.Network.Networks) && st.NetnsRef != "" {
		if m.c.net, err = network.New(cniConfig(cfg.Network), cfg.Network.Networks, cfg.Network.Args); err != nil {
			return nil, err
		}
	}
	if st.ConsoleMaster > 0 {
		m.console = &console{
			master:  newPollable(st.ConsoleMaster, "console-master"),
			slave:   os.NewFile(uintptr(st.ConsoleSlave), "console-slave"),
			drained: make(chan struct{}),
		}
		m.console.logTo(newConsoleLog(st.File.LogOutPath, cfg.Boot.ConsoleLogMax))
	}
	if st.Notify > 0 {
		conn, err := net.FileConn(os.NewFile(uintptr(st.Notify), "notify"))
		if err != nil {
			return nil, err
		}
		uc, ok := conn.(*net.UnixConn)
		if !ok {
			return nil, errors.New("resident monitor: the notify descriptor is not a unix socket")
		}
		// Still read (and dropped): systemd keeps sending, and a full
		// socket would make it wait.
		m.notify = &notifyListener{conn: uc, ready: make(chan struct{}), status: make(chan string, 16)}
		go m.notify.loop()
	}
	return m, nil
}
