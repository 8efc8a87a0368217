package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// nspawn is one systemd-nspawn boot of the bench image, sharing the
// throwaway host's network like --boot-hostnet does.
type nspawn struct {
	r       *runner
	name    string
	cmd     *exec.Cmd
	sock    *net.UnixConn
	started time.Time
	cgroups []string
	done    chan error
}

// nspawnCgroupRoots are the cgroup trees nspawn needs a cgroup of its
// own in: with --keep-unit it runs in the caller's cgroup and creates its
// payload/ and supervisor/ children there.
func nspawnCgroupRoots() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	return []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"}
}

// nspawnArgs is the command line: --keep-unit and --register=no because
// the host's PID 1 is not systemd (no bus, no machined); --notify-ready so
// READY=1 comes when systemd in the container is up, as for our start.
func nspawnArgs(name, rootfs string) []string {
	return []string{"systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--notify-ready=yes",
		"--console=passive", "-M", name, "-b", "-D", rootfs, "--volatile=overlay"}
}

func (r *runner) nspawnStart(name string) (*nspawn, error) {
	n := &nspawn{r: r, name: name, done: make(chan error, 1)}
	sockPath := filepath.Join(r.Top, "notify-"+name)
	var err error
	n.sock, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %q: %w", sockPath, err)
	}
	var moves []string
	for _, root := range nspawnCgroupRoots() {
		dir := filepath.Join(root, "apptainer-bench", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			n.closeAndClean()
			return nil, fmt.Errorf("failed to make cgroup %q: %w", dir, err)
		}
		n.cgroups = append(n.cgroups, dir)
		moves = append(moves, fmt.Sprintf("echo $$ > %s/cgroup.procs", dir))
	}
	// The shell moves itself into the cgroups and then becomes nspawn, so
	// nspawn starts inside them and its PID is the one we signal.
	script := strings.Join(moves, " && ") + ` && exec "$@"`
	n.cmd = exec.Command("sh", append([]string{"-c", script, "sh"}, nspawnArgs(name, r.Image)...)...)
	n.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET=" + sockPath}
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(r.Top, name+".log"))
	if err == nil {
		n.cmd.Stdout, n.cmd.Stderr = logf, logf
		defer logf.Close()
	}
	n.started = time.Now()
	if err := n.cmd.Start(); err != nil {
		n.closeAndClean()
		return nil, fmt.Errorf("failed to start systemd-nspawn: %w", err)
	}
	go func() { n.done <- n.cmd.Wait() }()
	r.defer_(n.kill)
	return n, nil
}

// waitReady returns the time from launch to READY=1 on our socket.
func (n *nspawn) waitReady(timeout time.Duration) (time.Duration, error) {
	buf := make([]byte, 4096)
	deadline := time.Now().Add(timeout)
	for {
		if err := n.sock.SetReadDeadline(deadline); err != nil {
			return 0, fmt.Errorf("failed to set a deadline: %w", err)
		}
		m, _, err := n.sock.ReadFromUnix(buf)
		if err != nil {
			return 0, fmt.Errorf("nspawn %s sent no READY=1 (log %s): %w", n.name, filepath.Join(n.r.Top, n.name+".log"), err)
		}
		if hasReady(string(buf[:m])) {
			return time.Since(n.started), nil
		}
	}
}

// hasReady reports whether an sd_notify datagram says READY=1.
func hasReady(msg string) bool {
	for _, l := range strings.Split(msg, "\n") {
		if l == "READY=1" {
			return true
		}
	}
	return false
}

// stop sends SIGTERM, which nspawn turns into SIGRTMIN+3 for the
// container's systemd (a clean halt), and times until nspawn exits.
func (n *nspawn) stop(timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("failed to signal nspawn %s: %w", n.name, err)
	}
	select {
	case <-n.done:
		d := time.Since(t0)
		n.closeAndClean()
		return d, nil
	case <-time.After(timeout):
		n.kill()
		return 0, fmt.Errorf("nspawn %s did not exit within %s of SIGTERM", n.name, timeout)
	}
}

// kill ends nspawn if it still runs and removes what it left.
func (n *nspawn) kill() {
	if n.cmd != nil && n.cmd.Process != nil && n.cmd.ProcessState == nil {
		select {
		case <-n.done:
		default:
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	}
	n.closeAndClean()
}

// closeAndClean closes the socket, removes our cgroups (deepest first:
// nspawn's payload/ and supervisor/ children) and what nspawn leaves under
// /run/systemd/nspawn because the host's /run is not a tmpfs.
func (n *nspawn) closeAndClean() {
	if n.sock != nil {
		n.sock.Close()
		os.Remove(n.sock.LocalAddr().String())
		n.sock = nil
	}
	for _, dir := range n.cgroups {
		removeCgroupTree(dir)
		_ = os.Remove(filepath.Dir(dir)) // apptainer-bench, once empty
	}
	n.cgroups = nil
	// nspawn's image lock directory stays behind too (empty once it exited).
	_ = os.Remove("/run/systemd/nspawn/locks")
	for _, sub := range []string{"propagate", "unix-export", "incoming"} {
		_ = os.RemoveAll(filepath.Join("/run/systemd/nspawn", sub, n.name))
		_ = os.Remove(filepath.Join("/run/systemd/nspawn", sub))
	}
	_ = os.Remove("/run/systemd/nspawn")
}

// removeCgroupTree rmdirs a cgroup and its children, children first;
// cgroup directories cannot be removed recursively in one go.
func removeCgroupTree(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = syscall.Rmdir(dir)
}
