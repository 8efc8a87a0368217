package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/cgroup"
	"github.com/apptainer/apptainer/internal/pkg/network"
	"github.com/apptainer/apptainer/internal/pkg/nsenter"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cniTimeout bounds each CNI ADD or DEL pass, as upstream: the network
// package's bound of one network.
const cniTimeout = network.DefaultTimeout

// stageTimeout bounds each exchange with a container stage: reading its
// config, and building the root filesystem from "go" until it executes
// the container's process. A stage that takes longer is stuck (a hung
// file system, a wedged device) and is killed; the bound is generous so
// that a slow, loaded machine never reaches it. A variable for tests.
var stageTimeout = 2 * time.Minute

// container is a spawned container stage and what was set up for it on the
// host side.
type container struct {
	cfg *config.Config
	// cmd is nil in a resident monitor, which only knows pid.
	cmd *exec.Cmd
	pid int
	// reaped is set once wait collected PID 1's status.
	reaped bool
	// sync is the socket to the container stage: "go" goes out on it, and
	// the stage's report on its setup comes back.
	sync     *net.UnixConn
	net      *network.Setup
	netnsRef string // bind mount holding the network namespace for CNI DEL
	ip       string
	// execAt is when the container stage exec'ed (config.TraceStart set),
	// stageAt when its Go code began and goAt when it was let go.
	execAt, stageAt, goAt int64
	// init is what the image's /sbin/init resolved to, for a boot, and
	// initProgram what its content says it is.
	init, initProgram string
	// startedAt is when clone and exec of the container stage returned.
	startedAt int64
}

// spawnOptions are the host-side resources a container is started with.
type spawnOptions struct {
	Stdin, Stdout, Stderr *os.File
	// CgroupFD, when set, is the cgroup2 directory the child is cloned into.
	CgroupFD *os.File
	// V1Cgroups are cgroups of v1 hierarchies the child is moved into
	// before it may unshare its cgroup namespace.
	V1Cgroups []string
	// RunDir holds the network namespace reference (and for instances the
	// notify socket and console).
	RunDir string
	// Progress receives human-readable steps.
	Progress func(string)
	// BeforeGo, when set, runs after the container stage started and
	// before it is let go; an error aborts the start.
	BeforeGo func() error
	// Started, when set, learns the host PID of the container stage (the
	// container's PID 1 to be) as soon as it exists.
	Started func(pid int)
}

// cniConfig is how the engine runs the CNI plugins of n: at start, in a
// resident monitor and for a ghost alike.
func cniConfig(n *config.Network) network.Config {
	return network.Config{ConfDir: n.ConfDir, PluginDirs: n.PluginDirs, CacheDir: n.CacheDir, Timeout: cniTimeout}
}

// cloneFlags maps the spec's new namespaces to clone flags.
func cloneFlags(list []specs.LinuxNamespace) (uintptr, string) {
	var flags uintptr
	joinNet := ""
	for _, ns := range list {
		if ns.Path != "" {
			if ns.Type == specs.NetworkNamespace {
				joinNet = ns.Path
			}
			continue
		}
		switch ns.Type {
		case specs.MountNamespace:
			flags |= unix.CLONE_NEWNS
		case specs.PIDNamespace:
			flags |= unix.CLONE_NEWPID
		case specs.UTSNamespace:
			flags |= unix.CLONE_NEWUTS
		case specs.IPCNamespace:
			flags |= unix.CLONE_NEWIPC
		case specs.NetworkNamespace:
			flags |= unix.CLONE_NEWNET
		}
	}
	return flags, joinNet
}

// spawn starts the container stage, configures its network and lets it
// build its root and exec. On any error everything it made is undone.
func spawn(cfg *config.Config, o spawnOptions) (c *container, err error) {
	c = &container{cfg: cfg}
	defer func() {
		if err != nil {
			c.abort()
		}
	}()
	if cfg.Network != nil && !network.IsNone(cfg.Network.Networks) {
		c.net, err = network.New(cniConfig(cfg.Network), cfg.Network.Networks, cfg.Network.Args)
		if err != nil {
			return c, fmt.Errorf("network setup failed: %w", err)
		}
	}
	flags, joinNet := cloneFlags(cfg.Spec.Linux.Namespaces)
	if cfg.UserNS != nil {
		// The stage shares the monitor's mount namespace until the
		// monitor has assembled its root there, then copies it itself
		// (see rootfs_linux.go).
		flags &^= unix.CLONE_NEWNS
	}
	var helper string
	if joinNet != "" {
		if err := network.CheckNetnsPath(joinNet); err != nil {
			return c, err
		}
		// Go cannot enter a network namespace for the whole process:
		// apptainer-nsenter enters it and execs the stage.
		if helper, err = nsenterBinary(); err != nil {
			return c, err
		}
	}
	cfg.RunDir = o.RunDir
	var uidHelper, gidHelper string
	if cfg.MapHelpers {
		if uidHelper, gidHelper, err = findIDMapHelpers(); err != nil {
			return c, err
		}
	}
	if cfg.Unprivileged {
		if err := checkSessionDir(); err != nil {
			return c, err
		}
	} else if err := os.MkdirAll(SessionDir(), 0o755); err != nil {
		// The mapped root of a user namespace cannot create it on the host.
		return c, fmt.Errorf("failed to create %s: %w", SessionDir(), err)
	}
	cp, err := newConfigPipe(cfg)
	if err != nil {
		return c, err
	}
	defer cp.started()
	var childSync *os.File
	if c.sync, childSync, err = syncPair(); err != nil {
		cp.abort()
		return c, err
	}

	// The stage runs the engine through a descriptor opened here: in a
	// user namespace the stage's root is an unprivileged host uid, which
	// may not reach the binary by its path (a build directory below a
	// 0700 home, say).
	exe, err := os.OpenFile(engineBinary(), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		cp.abort()
		childSync.Close()
		return c, fmt.Errorf("failed to open the engine binary: %w", err)
	}
	defer exe.Close()
	extra, closeExtra, err := stageFiles(cfg, o, cp.r, childSync, exe)
	if err != nil {
		cp.abort()
		childSync.Close()
		return c, err
	}
	defer closeExtra()
	cmd := stageCommand(cfg, o, flags, joinNet, helper, extra)
	err = cmd.Start()
	c.startedAt = time.Now().UnixNano()
	// Only the child may hold its end: the parent reads EOF when it execs.
	childSync.Close()
	if err != nil {
		cp.abort()
		return c, fmt.Errorf("failed to start container process: %w", err)
	}
	c.cmd, c.pid = cmd, cmd.Process.Pid
	if cfg.MapHelpers {
		if err := mapIDs(c.pid, cfg, uidHelper, gidHelper); err != nil {
			cp.abort()
			return c, err
		}
	}
	if o.Started != nil {
		o.Started(c.pid)
	}
	if werr := cp.sendWithin(stageTimeout); werr != nil {
		return c, fmt.Errorf("failed to send the container process its config: %w", werr)
	}

	return c, c.letGo(o)
}

// stageCommand is the container stage's command: the engine binary through
// its descriptor (through apptainer-nsenter to join a network namespace),
// cloned into the new namespaces, the user namespace with its id map among
// them, and into the instance's cgroup.
func stageCommand(cfg *config.Config, o spawnOptions, flags uintptr, joinNet, helper string, extra []*os.File) *exec.Cmd {
	cmd := exec.Command("/proc/self/fd/" + strconv.Itoa(stageExeFD))
	cmd.Args = []string{"apptainer-container"}
	cmd.Env = []string{StageEnv + "=" + stageContainer}
	if joinNet != "" {
		cmd = exec.Command(helper, engineBinary())
		cmd.Env = append(cmd.Env, StageEnv+"="+stageContainer, nsenter.Env(nsenter.Request{Paths: map[string]string{"net": joinNet}}))
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	if u := cfg.UserNS; u != nil {
		// Created together with the other namespaces, so that it owns them;
		// the child becomes the mapped root before it runs any code.
		idMap := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(u.HostID), Size: int(u.Size)}}
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = idMap
		cmd.SysProcAttr.GidMappings = idMap
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	if cfg.Unprivileged {
		unprivilegedAttr(cmd.SysProcAttr, cfg)
	}
	if o.CgroupFD != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(o.CgroupFD.Fd())
	}
	return cmd
}

// letGo finishes what the stage waits for (its network, the guard's
// baseline, its v1 cgroups, for a user namespace its root file system),
// sends it "go" and waits for it to execute.
func (c *container) letGo(o spawnOptions) error {
	cfg := c.cfg
	if c.net != nil {
		if o.Progress != nil {
			o.Progress("setting up network " + strings.Join(cfg.Network.Networks, ","))
		}
		if err := c.attachNetwork(o.RunDir); err != nil {
			return err
		}
	}
	if o.BeforeGo != nil {
		if err := o.BeforeGo(); err != nil {
			return err
		}
	}
	if err := cgroup.EnterV1(o.V1Cgroups, c.pid); err != nil {
		return err
	}
	if cfg.UserNS != nil {
		if err := assembleForUserNS(cfg, c.pid); err != nil {
			return err
		}
		defer releaseAssembly()
	}
	c.goAt = time.Now().UnixNano()
	if err := writeSync(c.sync, goMsg()); err != nil {
		return fmt.Errorf("container process died during setup: %w", err)
	}
	return c.waitExec(stageTimeout)
}

// stageFiles are the descriptors a container stage gets, at fixed
// numbers: its config, the sync socket, the engine binary; then, for a
// container under a seccomp filter, apptainer-nsenter (stageNsenterFD),
// and for one without a user namespace under a device policy, its cgroup
// (stageCgroupFD), which the stage attaches the policy to once it has
// built its root (it opens a loop device for a SIF image, say). A user
// namespace container's root is built by the monitor, outside the
// cgroup, which gets the policy from the monitor before the stage runs.
func stageFiles(cfg *config.Config, o spawnOptions, base ...*os.File) ([]*os.File, func(), error) {
	files := base
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	sc, err := SeccompOf(cfg)
	if err != nil {
		return nil, nil, err
	}
	stagePolicy := cfg.UserNS == nil && devicePolicy(cfg) != nil
	if sc == nil && !stagePolicy {
		return files, closeAll, nil
	}
	var helper *os.File
	if sc != nil {
		if helper, err = openNsenter(); err != nil {
			return nil, nil, err
		}
	} else if helper, err = os.Open(os.DevNull); err != nil {
		return nil, nil, err
	}
	opened = append(opened, helper)
	files = append(files, helper)
	if stagePolicy {
		if o.CgroupFD == nil {
			closeAll()
			return nil, nil, errors.New("internal error: a device policy without a cgroup")
		}
		files = append(files, o.CgroupFD)
	}
	return files, closeAll, nil
}

// openNsenter opens apptainer-nsenter for a stage to execute after it
// has pivoted into the container, where the binary's path is gone.
func openNsenter() (*os.File, error) {
	bin, err := nsenterBinary()
	if err != nil {
		return nil, fmt.Errorf("the instance has a seccomp filter, which %w", err)
	}
	f, err := os.OpenFile(bin, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", bin, err)
	}
	return f, nil
}

// syncPair makes the sync socket: ours, pollable so that reads can have a
// deadline, and the stage's end as a plain file to hand over.
func syncPair() (*net.UnixConn, *os.File, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	child := os.NewFile(uintptr(pair[1]), "sync-child")
	// The stage reads its end with plain blocking calls.
	if err := unix.SetNonblock(pair[1], false); err != nil {
		child.Close()
		unix.Close(pair[0])
		return nil, nil, err
	}
	ours := os.NewFile(uintptr(pair[0]), "sync")
	conn, err := net.FileConn(ours)
	ours.Close() // FileConn holds a duplicate
	if err != nil {
		child.Close()
		return nil, nil, err
	}
	return conn.(*net.UnixConn), child, nil
}

// attachNetwork pins the container's network namespace with a bind mount
// (so CNI DEL still finds it after the container has exited) and runs CNI ADD.
func (c *container) attachNetwork(runDir string) error {
	ref := filepath.Join(runDir, "netns")
	if err := mountPoint(ref, false); err != nil {
		return err
	}
	nsPath := fmt.Sprintf("/proc/%d/ns/net", c.cmd.Process.Pid)
	if err := mount(nsPath, ref, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	c.netnsRef = ref
	// Recorded before ADD: if this process dies half-way, the ghost
	// cleanup can still run DEL for this container. Without the record
	// it could not, so no ADD runs.
	if err := writeJSON(filepath.Join(runDir, cniPendingFile), cniPending{ContainerID: c.containerID(), NetNS: ref}); err != nil {
		return fmt.Errorf("network setup failed: cannot record it for cleanup: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cniTimeout*time.Duration(len(c.cfg.Network.Networks)+1))
	defer cancel()
	res, err := c.net.Add(ctx, c.containerID(), ref)
	if err != nil {
		return fmt.Errorf("network setup failed: %w", err)
	}
	c.ip = res.IP
	// Kept where only root writes, so that a ghost's networks can be
	// deleted if this process is killed before it cleans up. A start that
	// cannot keep it fails, and its cleanup deletes the networks.
	if err := writeJSON(filepath.Join(runDir, cniResultFile), res); err != nil {
		return fmt.Errorf("network setup failed: cannot record its result for cleanup: %w", err)
	}
	return nil
}

// writeJSON writes v as JSON to path, readable by root only.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// cniResultFile holds the CNI result of a container in its runtime
// directory; cniPendingFile what DEL needs when no result was written.
const (
	cniResultFile  = "cni-result.json"
	cniPendingFile = "cni-pending.json"
)

type cniPending struct {
	ContainerID string `json:"containerID"`
	NetNS       string `json:"netns"`
}

func (c *container) containerID() string { return strconv.Itoa(c.pid) }

// waitExec returns once the container process has executed the
// container's process (or, for the shim, become PID 1 itself), with the
// error it reported, or with an error once it has not done so within
// timeout. Right before it executes, the stage says so ("exec"); the sync
// socket is close-on-exec, so end-of-file then means the exec happened.
// End-of-file without that message means the stage died during setup.
func (c *container) waitExec(timeout time.Duration) error {
	_ = c.sync.SetReadDeadline(time.Now().Add(timeout))
	r := newSyncReader(c.sync)
	executing := false
	for {
		m, err := r.next()
		switch {
		case err == nil && m.Type == syncError:
			return errors.New(m.Error)
		case err == nil && m.Type == syncExec:
			executing = true
			c.execAt, c.stageAt, c.init, c.initProgram = m.ExecAt, m.StageAt, m.Init, m.InitProgram
			continue
		case err == nil:
			return fmt.Errorf("container process failed during setup: it sent a %q message", m.Type)
		case errors.Is(err, io.EOF) && executing:
			return nil
		case errors.Is(err, io.EOF):
			return fmt.Errorf("container process died during setup%s", c.exitDescription())
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("container process did not finish its setup within %s%s; it was killed", timeout, c.stuckIn())
		}
		return fmt.Errorf("container process failed during setup: %w", err)
	}
}

// exitDescription says, without reaping it, how the stage ended: ": killed
// by SIGKILL", or "" when that is not known.
func (c *container) exitDescription() string {
	var info unix.Siginfo
	if c.pid == 0 || unix.Waitid(unix.P_PID, c.pid, &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil) != nil || siginfoPid(&info) != c.pid {
		return ""
	}
	status, code := siginfoStatus(&info)
	switch code {
	case cldExited:
		return fmt.Sprintf(" (exit status %d)", status)
	case cldKilled, cldDumped:
		return " (killed by " + signalName(unix.Signal(status)) + ")"
	}
	return ""
}

// stuckIn names the kernel function a stuck stage waits in, as a hint.
func (c *container) stuckIn() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", c.pid))
	if w := strings.TrimSpace(string(b)); err == nil && w != "" && w != "0" {
		return " (waiting in " + w + ")"
	}
	return ""
}

// releaseNetwork runs CNI DEL and lets the network namespace go. A DEL
// failure is reported, but the rest of the cleanup still happens.
func (c *container) releaseNetwork() error {
	var err error
	if c.net != nil && c.netnsRef != "" && c.pid != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), cniTimeout*time.Duration(len(c.cfg.Network.Networks)+1))
		if derr := c.net.Del(ctx, c.containerID(), c.netnsRef); derr != nil {
			err = fmt.Errorf("could not delete networks: %w", derr)
		}
		cancel()
	}
	if c.netnsRef != "" {
		_ = unix.Unmount(c.netnsRef, unix.MNT_DETACH)
		_ = os.Remove(c.netnsRef)
		c.netnsRef = ""
	}
	return err
}

// abort kills a container that failed to start and undoes its network.
func (c *container) abort() {
	if c.cmd != nil && c.cmd.Process != nil && !c.reaped {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
		c.reaped = true
	}
	if err := c.releaseNetwork(); err != nil {
		fmt.Fprintf(os.Stderr, "WARNING: %v\n", err)
	}
	if c.sync != nil {
		c.sync.Close()
	}
}

// wait waits for the container's PID 1 and returns its exit status.
func (c *container) wait() (unix.WaitStatus, error) {
	defer func() { c.reaped = true }()
	if c.cmd == nil {
		// A resident monitor: PID 1 is its child, without an exec.Cmd.
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(c.pid, &ws, 0, nil)
			if !errors.Is(err, unix.EINTR) {
				return ws, err
			}
		}
	}
	err := c.cmd.Wait()
	if c.sync != nil {
		c.sync.Close()
	}
	ws, _ := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return unix.WaitStatus(ws), err
	}
	return unix.WaitStatus(ws), nil
}

// exitCode turns a wait status into a shell-style exit code.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
