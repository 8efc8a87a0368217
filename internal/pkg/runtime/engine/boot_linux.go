package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/creack/pty"
)

// notifyListener receives systemd's sd_notify datagrams from a booted
// instance's /run/host/notify.
type notifyListener struct {
	conn  *net.UnixConn
	ready chan struct{}
	// status holds the last STATUS= text.
	status chan string
}

// listenNotify binds the notify socket inside dir (mounted as /run/host).
func listenNotify(dir string) (*notifyListener, error) {
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("failed to create notify socket: %w", err)
	}
	if err := os.Chmod(path, 0o777); err != nil {
		conn.Close()
		return nil, err
	}
	l := &notifyListener{conn: conn, ready: make(chan struct{}), status: make(chan string, 16)}
	go l.loop()
	return l, nil
}

func (l *notifyListener) loop() {
	buf := make([]byte, 4096)
	readyClosed := false
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			switch {
			case line == "READY=1" && !readyClosed:
				close(l.ready)
				readyClosed = true
			case strings.HasPrefix(line, "STATUS="):
				select {
				case l.status <- strings.TrimPrefix(line, "STATUS="):
				default:
				}
			}
		}
	}
}

func (l *notifyListener) Close() { l.conn.Close() }

// writeHostFiles fills /run/host as systemd's container interface asks.
// On the host network it also holds the marker that the drop-ins of
// etc/network-overrides test for (imageaudit.MarkerPath).
func writeHostFiles(dir string, hostNet bool, uuid string) error {
	if err := os.WriteFile(filepath.Join(dir, "container-manager"), []byte("apptainer\n"), 0o444); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "container-uuid"), []byte(uuid+"\n"), 0o444); err != nil {
		return err
	}
	if hostNet {
		if err := os.WriteFile(filepath.Join(dir, "hostnet"), nil, 0o444); err != nil {
			return err
		}
	}
	for _, src := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if b, err := os.ReadFile(src); err == nil {
			return os.WriteFile(filepath.Join(dir, "os-release"), b, 0o444)
		}
	}
	return nil
}

// console is the pty whose slave is the instance's /dev/console.
type console struct {
	master, slave *os.File
	// drained is closed when everything written to the console is logged.
	drained chan struct{}
}

// openConsole makes the pty and links its slave as dir/console, the source
// of the /dev/console bind.
func openConsole(dir string) (*console, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("failed to allocate a console pty: %w", err)
	}
	if err := os.Symlink(s.Name(), filepath.Join(dir, "console")); err != nil {
		m.Close()
		s.Close()
		return nil, err
	}
	return &console{master: m, slave: s, drained: make(chan struct{})}, nil
}

// logTo copies everything written to the console into w (the .out log).
// The slave stays open in the monitor, so the console never hangs up when
// getty restarts.
func (c *console) logTo(w *os.File) {
	go func() {
		defer close(c.drained)
		buf := make([]byte, 32*1024)
		for {
			n, err := c.master.Read(buf)
			if n > 0 {
				_, _ = w.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
}

// Close hangs up the console once the instance is gone: with the last
// slave closed the master reads what is left, then EIO.
func (c *console) Close() {
	c.slave.Close()
	select {
	case <-c.drained:
	case <-time.After(time.Second):
	}
	c.master.Close()
}

// bootState asks the instance's systemd how the boot went.
func bootState(pid int) (state string, failed []string) {
	out, _ := runInInstance(pid, "systemctl", "is-system-running")
	state = strings.TrimSpace(string(out))
	if state == "" {
		state = "unknown"
	}
	out, err := runInInstance(pid, "systemctl", "list-units", "--state=failed", "--plain", "--no-legend", "--no-pager")
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				failed = append(failed, f[0])
			}
		}
	}
	return state, failed
}

// runInInstance runs a command inside every namespace of an instance and
// returns its standard output.
func runInInstance(pid int, args ...string) ([]byte, error) {
	cmd, err := JoinCommand(pid, JoinConfig{Args: args, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}, Cwd: "/"})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	done := make(chan error, 1)
	err = cmd.Start()
	for _, f := range cmd.ExtraFiles {
		f.Close() // the child has its copy
	}
	if err != nil {
		return nil, err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		err = errors.New("timed out")
		<-done
	}
	return out.Bytes(), err
}

// tailFile returns the last n lines of a log, for error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
