package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
	"github.com/apptainer/apptainer/internal/pkg/capabilities"
	"github.com/apptainer/apptainer/internal/pkg/cgroup"
	"github.com/apptainer/apptainer/internal/pkg/nsenter"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	// Every stage changes namespaces, mounts and credentials of the thread
	// that finally calls execve; keep main on one OS thread from the start.
	if os.Getenv(StageEnv) != "" {
		runtime.LockOSThread()
	}
}

// SessionDir is the mount point of each container's private session tmpfs
// (generated files, overlay layers, the new root). It lives in the
// container's own mount namespace, so it vanishes with it.
func SessionDir() string { return filepath.Join(buildcfg.LocalStateDir, "apptainer", "mnt", "session") }

// containerMain is PID 1 of a new container until it execs.
func containerMain() error {
	// Not for the container's process.
	unix.CloseOnExec(stageExeFD)
	unix.CloseOnExec(stageNsenterFD)
	unix.CloseOnExec(stageCgroupFD)
	cfgFile := os.NewFile(configFD, "config")
	b, err := io.ReadAll(cfgFile)
	cfgFile.Close()
	if err != nil {
		return fmt.Errorf("failed to read container config: %w", err)
	}
	cfg, err := config.Decode(b)
	if err != nil {
		return err
	}
	sync := fdConn(syncFD)
	unix.CloseOnExec(syncFD)
	if err := receiveGo(sync); err != nil {
		return err
	}
	setup := setupContainer
	switch {
	case cfg.UserNS != nil:
		setup = enterAssembled
	case cfg.Unprivileged:
		setup = setupUnprivileged
	}
	if err := setup(cfg); err != nil {
		return report(sync, err)
	}
	return report(sync, execProcess(cfg))
}

// reportedError is an error the stage handed to its parent, which prints
// it: the stage does not print it again.
type reportedError struct{ error }

func (e reportedError) Unwrap() error { return e.error }

// report sends err to the parent, and says whether it got there.
func report(sync fdConn, err error) error {
	if writeSync(sync, errorMsg(err)) != nil {
		return err
	}
	return reportedError{err}
}

// receiveGo waits for the monitor's syncGo. Anything else, the socket
// closed included, means the monitor gave up on this start.
func receiveGo(sync fdConn) error {
	if m, err := newSyncReader(sync).next(); err != nil || m.Type != syncGo {
		return fmt.Errorf("container setup aborted by the runtime")
	}
	return nil
}

// setupContainer builds the root file system, both phases, and pivots
// into it: the container without a user namespace, whose stage is real
// root in a mount namespace of its own.
func setupContainer(cfg *config.Config) error {
	if cfg.Cgroup {
		// The monitor cloned us into the instance cgroup; unsharing now
		// makes it the root of the container's cgroup namespace.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("failed to create cgroup namespace: %w", err)
		}
	}
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	a := &assembler{cfg: cfg, session: SessionDir()}
	if err := a.outside(); err != nil {
		return err
	}
	// Built with whatever devices that took (a loop device for a SIF),
	// and before anything of the image runs: from here on the container's
	// cgroup allows only the devices of its policy.
	if rules := devicePolicy(cfg); rules != nil {
		err := cgroup.ApplyDevicePolicy("/proc/self/fd/"+strconv.Itoa(stageCgroupFD), rules)
		unix.Close(stageCgroupFD)
		if err != nil {
			return err
		}
	}
	if err := inside(cfg, a.root()); err != nil {
		return err
	}
	return pivot(a.root())
}

// mountTarget resolves a mount destination inside root. When the last
// component is a symlink and the root is a throwaway overlay, the link
// itself is replaced by the mount point: Debian's /etc/resolv.conf is a link
// into /run, and binding through it would put the file somewhere else.
// Otherwise the link is followed, inside root.
func mountTarget(root, dest string, replaceLink bool) (string, error) {
	dir, base := filepath.Split(filepath.Clean("/" + dest))
	parent, err := securePath(root, dir)
	if err != nil {
		return "", err
	}
	target := filepath.Join(parent, base)
	fi, err := os.Lstat(target)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return target, nil
	}
	if replaceLink {
		if err := os.Remove(target); err != nil {
			return "", fmt.Errorf("failed to replace symlink %s: %w", dest, err)
		}
		return target, nil
	}
	return securePath(root, dest)
}

// makeDevices creates device nodes in the container's minimal /dev. A user
// namespace may not create device nodes: there the host's are bound.
func makeDevices(root string, devices []specs.LinuxDevice, bindHost bool) error {
	for _, d := range devices {
		p, err := securePath(root, d.Path)
		if err != nil {
			return err
		}
		if bindHost {
			if err := mountPoint(p, false); err != nil {
				return err
			}
			if err := mount(d.Path, p, "", unix.MS_BIND, ""); err != nil {
				return err
			}
			continue
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode)
		}
		if d.Type == "c" {
			mode |= unix.S_IFCHR
		} else {
			mode |= unix.S_IFBLK
		}
		old := unix.Umask(0)
		err = unix.Mknod(p, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
		unix.Umask(old)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("failed to create device %s: %w", d.Path, err)
		}
	}
	return nil
}

// pivot makes root the new "/" and detaches the old one, so no host path
// stays reachable (a chroot would leave them there).
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("failed to pivot_root into %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("failed to detach the old root: %w", err)
	}
	return unix.Chdir("/")
}

// execProcess applies credentials and execs the container's process.
func execProcess(cfg *config.Config) error {
	p := cfg.Spec.Process
	if err := os.Chdir(p.Cwd); err != nil {
		if !cfg.Quiet {
			fmt.Fprintf(os.Stderr, "WARNING: could not chdir to %s: %v, using /\n", p.Cwd, err)
		}
		_ = os.Chdir("/")
	}
	// Before the seccomp filter of execFiltered, which refuses keyctl;
	// nsenter joins yet another one there.
	if err := leaveSessionKeyring(); err != nil {
		return err
	}
	if cfg.Shim {
		return runShim(cfg)
	}
	sc, err := SeccompOf(cfg)
	if err != nil {
		return err
	}
	if sc != nil {
		return execFiltered(cfg)
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return err
	}
	if err := applyCredentials(cfg); err != nil {
		return err
	}
	announceExec(cfg, path)
	err = unix.Exec(path, p.Args, p.Env)
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("exec %s failed: a shared library is likely missing in the image", path)
	}
	return fmt.Errorf("exec %s failed: %w", path, err)
}

// execFiltered executes the container's process under its seccomp filter:
// apptainer-nsenter, received as stageNsenterFD, compiles and loads the
// filter with libseccomp, sets the capabilities and no_new_privs, and
// executes the process, keeping this PID.
func execFiltered(cfg *config.Config) error {
	p := cfg.Spec.Process
	// Failures nsenter could only print on the console are found here,
	// where they reach instance start: a missing or non-executable
	// program.
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return err
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return fmt.Errorf("exec %s failed: %w", path, err)
	}
	jc, err := JoinConfigOf(cfg)
	if err != nil {
		return err
	}
	jc.Args = p.Args
	spec, err := inheritedJoinSpec(jc)
	if err != nil {
		return err
	}
	defer spec.Close()
	env := []string{nsenter.Env(nsenter.Request{ExecFD: int(spec.Fd())})}
	announceExec(cfg, path)
	err = unix.Exec("/proc/self/fd/"+strconv.Itoa(stageNsenterFD), []string{"apptainer-exec"}, env)
	return fmt.Errorf("failed to execute apptainer-nsenter to load the seccomp filter: %w", err)
}

// announceExec tells the runtime that this stage is about to execute the
// container's process, path: the end-of-file that follows is then a
// successful exec, not a stage that died during setup. For a boot it also
// says which program the image's init is, symbolic links followed in the
// container's root, where this stage already is.
func announceExec(cfg *config.Config, path string) {
	var init, program string
	if cfg.Boot != nil && path != "" {
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			init, program = resolved, initProgram(resolved)
		}
	}
	// Written to the descriptor itself: an *os.File for it would close it
	// when collected.
	_ = writeSync(fdConn(syncFD), execMsg(time.Now().UnixNano(), processStart.UnixNano(), init, program))
}

// initProgram recognizes an init whose file name does not say what it is
// (sysvinit is /sbin/init itself) by a string its binary carries, read
// from the first initSniffMax bytes of a regular file; "" when none is
// found. The file is the image's, read by the stage inside it.
func initProgram(path string) string {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	head, err := io.ReadAll(io.LimitReader(f, initSniffMax))
	if err != nil {
		return ""
	}
	return ProgramOf(head)
}

// initSniffMax bounds what initProgram reads: sysvinit's binary is
// about 50 KiB.
const initSniffMax = 1 << 20

// applyCredentials sets capabilities, no_new_privs and the umask (the
// caller's, inherited, unless the config names one), last before exec.
func applyCredentials(cfg *config.Config) error {
	if u := cfg.Spec.Process.User.Umask; u != nil {
		unix.Umask(int(*u))
	}
	var caps []string
	if c := cfg.Spec.Process.Capabilities; c != nil {
		caps = c.Bounding
	}
	if err := capabilities.Apply(caps); err != nil {
		return fmt.Errorf("failed to set capabilities: %w", err)
	}
	if cfg.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("failed to set no_new_privs: %w", err)
		}
	}
	return nil
}

// lookPath finds a command in the container's PATH.
func lookPath(cmd string, env []string) (string, error) {
	if strings.Contains(cmd, "/") {
		// ENOENT from the exec would mean the file or its interpreter
		// (a shared library) is missing: tell them apart here.
		if _, err := os.Stat(cmd); errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: no such file or directory", cmd)
		}
		return cmd, nil
	}
	for _, dir := range filepath.SplitList(searchPath(env)) {
		p := filepath.Join(dir, cmd)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", cmd)
}
