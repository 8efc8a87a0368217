package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/capabilities"
	"github.com/apptainer/apptainer/internal/pkg/cgroup"
	"github.com/apptainer/apptainer/internal/pkg/nsenter"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"golang.org/x/sys/unix"
)

// JoinConfigOf is the process a container config describes, as a join
// starts it: its directory, environment, capabilities (the bounding set
// becomes the process's; none when the config lists none), no_new_privs
// and seccomp filter. Args, and Cgroup for a join, are the caller's to set.
func JoinConfigOf(cfg *config.Config) (JoinConfig, error) {
	p := cfg.Spec.Process
	jc := JoinConfig{Env: p.Env, Cwd: p.Cwd, NoNewPrivs: cfg.NoNewPrivileges}
	if c := p.Capabilities; c != nil {
		jc.Caps = c.Bounding
		if jc.Caps == nil {
			jc.Caps = []string{}
		}
	}
	var err error
	jc.Seccomp, err = SeccompOf(cfg)
	return jc, err
}

// JoinCommand prepares a command that enters every namespace of the
// instance whose PID 1 has host PID pid and runs jc there: apptainer-nsenter
// joins, forks into the PID namespace and execs jc, so no Go code runs in
// between. The request travels in cmd.ExtraFiles: close them once the
// command has started.
func JoinCommand(pid int, jc JoinConfig) (*exec.Cmd, error) {
	bin, err := nsenterBinary()
	if err != nil {
		return nil, err
	}
	spec, err := joinSpec(jc)
	if err != nil {
		return nil, err
	}
	req, err := joinRequest(pid, jc.Cgroup)
	if err != nil {
		return nil, err
	}
	req.ExecFD = 3
	cmd := exec.Command(bin)
	cmd.Args = []string{"apptainer-join"}
	cmd.Env = []string{nsenter.Env(req)}
	cmd.ExtraFiles = []*os.File{spec}
	return cmd, nil
}

// ExecInInstance replaces the calling process with jc running inside the
// instance whose PID 1 has host PID pid; it returns only on failure. What
// is left of this process after the exec is apptainer-nsenter, waiting for
// jc and exiting with its status.
func ExecInInstance(pid int, jc JoinConfig) error {
	bin, err := nsenterBinary()
	if err != nil {
		return err
	}
	spec, err := inheritedJoinSpec(jc)
	if err != nil {
		return err
	}
	defer spec.Close()
	req, err := joinRequest(pid, jc.Cgroup)
	if err != nil {
		return err
	}
	req.ExecFD = int(spec.Fd())
	err = unix.Exec(bin, []string{"apptainer-join"}, []string{nsenter.Env(req)})
	return fmt.Errorf("failed to run %s to join the instance: %w", bin, err)
}

// joinRequest asks to join every namespace of pid that differs from ours,
// and with cgroup the cgroup pid is in.
func joinRequest(pid int, cgroupToo bool) (nsenter.Request, error) {
	r := nsenter.ForPID(pid, func(t string) bool { return sameNamespace(pid, t) }, func(t string) bool { return foreignNamespace(pid, t) })
	// A joined process is the instance's: none of it may stay in the
	// caller's session, whose terminal it could type into (TIOCSTI).
	r.Session = true
	if cgroupToo {
		procs, err := cgroup.ProcsFiles(pid)
		if err != nil {
			return r, fmt.Errorf("failed to find the instance's cgroup: %w", err)
		}
		if os.Getuid() != 0 {
			// An ordinary user's instance has a cgroup2 cgroup only;
			// its processes are in the v1 ones of the user's session,
			// where the joiner is already.
			procs = procs[:1]
		}
		r.CgroupProcs = procs
	}
	return r, nil
}

// foreignNamespace reports whether pid's namespace of type t is owned by
// another user namespace than pid's own (ioctl NS_GET_USERNS): the host
// network namespace of a user-namespaced --boot-hostnet instance is. When
// it cannot be told, the answer is yes: the caller is root of the initial
// user namespace, which may join any namespace before it enters pid's user
// namespace, but afterwards only those that one owns.
func foreignNamespace(pid int, t string) bool {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, t))
	if err != nil {
		return true
	}
	defer ns.Close()
	fd, err := unix.IoctlRetInt(int(ns.Fd()), unix.NS_GET_USERNS)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	var owner, user unix.Stat_t
	if unix.Fstat(fd, &owner) != nil || unix.Stat(fmt.Sprintf("/proc/%d/ns/user", pid), &user) != nil {
		return true
	}
	return owner.Ino != user.Ino || owner.Dev != user.Dev
}

// joinSpec encodes jc into a memory file for apptainer-nsenter to read: no
// pipe to keep fed, whatever its size.
func joinSpec(jc JoinConfig) (*os.File, error) {
	e := nsenter.Exec{Args: jc.Args, Env: jc.Env, Cwd: jc.Cwd, Search: searchPath(jc.Env), NoNewPrivs: jc.NoNewPrivs, Seccomp: jc.Seccomp}
	if jc.Caps != nil {
		mask, err := capabilities.ToMask(jc.Caps)
		if err != nil {
			return nil, fmt.Errorf("failed to set capabilities: %w", err)
		}
		e.Caps = &mask
	}
	blob, err := e.Encode()
	if err != nil {
		return nil, err
	}
	return memFile("apptainer-join", blob)
}

// inheritedJoinSpec is joinSpec for apptainer-nsenter to find across an
// exec of this process, at whatever number the descriptor has: nsenter
// closes it once read.
func inheritedJoinSpec(jc JoinConfig) (*os.File, error) {
	spec, err := joinSpec(jc)
	if err != nil {
		return nil, err
	}
	if _, err := unix.FcntlInt(spec.Fd(), unix.F_SETFD, 0); err != nil {
		spec.Close()
		return nil, err
	}
	return spec, nil
}

// memFile returns a close-on-exec memory file holding blob, positioned at
// its start: a request handed to an exec'ed program as a descriptor.
func memFile(name string, blob []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(blob); err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to write %s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// searchPath is the PATH a command is looked up in: the process's own, or
// the runtime's default when its environment has none.
func searchPath(env []string) string {
	path := config.DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	return path
}

// sameNamespace reports whether the caller already is in pid's namespace
// of type t; joining it again is pointless (and for some types refused).
func sameNamespace(pid int, t string) bool {
	var a, b unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, t), &a) != nil {
		return true // the kernel has no such namespace type
	}
	if unix.Stat("/proc/self/ns/"+t, &b) != nil {
		return false
	}
	return a.Ino == b.Ino && a.Dev == b.Dev
}

// RunInInstance runs jc inside the instance whose PID 1 has host PID pid,
// with the caller's descriptors 0 to 2, waits for it and returns its exit
// status (128+N when killed by signal N). It is ExecInInstance for a
// caller with something left to do afterwards (--sharens stops the shared
// instance). apptainer-nsenter gets a process group of its own, so that
// each signal reaches it once, from here: it passes it on to jc.
func RunInInstance(pid int, jc JoinConfig) (int, error) {
	cmd, err := JoinCommand(pid, jc)
	if err != nil {
		return 255, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	defer signal.Stop(sigs)
	err = cmd.Start()
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
	if err != nil {
		return 255, fmt.Errorf("failed to join the instance: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
			continue
		case err = <-done:
		}
		break
	}
	return exitStatus(err)
}

// exitStatus is a shell's $? for the end of a waited command.
func exitStatus(err error) (int, error) {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(unix.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 255, err
}
