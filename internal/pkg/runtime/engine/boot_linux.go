package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/nsenter"
	"github.com/apptainer/apptainer/internal/pkg/termtext"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// notifyListener receives systemd's sd_notify datagrams from a booted
// instance's /run/host/notify. The socket is reachable by every process of
// the instance, so only datagrams whose sender the kernel vouches for
// (SCM_CREDENTIALS) as the instance's PID 1 count, as systemd-nspawn does:
// any other process could claim READY=1 early or print a STATUS=.
type notifyListener struct {
	conn  *net.UnixConn
	ready chan struct{}
	// status holds the last STATUS= text.
	status chan string
	// init is the host PID of the instance's PID 1 (0 until known).
	init atomic.Int64
}

// expect makes pid, the instance's PID 1, the one sender listened to.
func (l *notifyListener) expect(pid int) { l.init.Store(int64(pid)) }

// sunPathMax is the size of sockaddr_un's sun_path, NUL included.
const sunPathMax = 108

// listenNotify binds the notify socket inside dir (mounted as /run/host),
// connectable by owner (the host uid of the instance's root) and host
// root only: a host user who can reach it by path is refused before the
// monitor's check of the sender (only init counts) even runs.
func listenNotify(dir string, owner int) (*notifyListener, error) {
	path := filepath.Join(dir, "notify")
	addr := path
	if len(path) >= sunPathMax {
		// Bound through the directory's descriptor, so that the address
		// fits in sun_path: an ordinary user's runtime directory is in
		// the user's home, which may be deep (root's instance names are
		// limited so that theirs fits, see launcher.MaxInstanceName).
		dirFD, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("failed to create notify socket: %w", err)
		}
		defer unix.Close(dirFD)
		addr = fmt.Sprintf("/proc/self/fd/%d/notify", dirFD)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("failed to create notify socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o700); err == nil {
		err = os.Lchown(path, owner, owner)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("failed to set up the notify socket: %w", err)
	}
	if err := passCredentials(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("failed to set up the notify socket: %w", err)
	}
	l := &notifyListener{conn: conn, ready: make(chan struct{}), status: make(chan string, 16)}
	go l.loop()
	return l, nil
}

// passCredentials has the kernel attach each sender's credentials.
func passCredentials(conn *net.UnixConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	return serr
}

// senderPID returns the PID in a datagram's SCM_CREDENTIALS, or 0.
func senderPID(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

func (l *notifyListener) loop() {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	readyClosed, warned := false, false
	for {
		n, oobn, _, _, err := l.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		if pid, init := senderPID(oob[:oobn]), l.init.Load(); pid == 0 || int64(pid) != init {
			if init != 0 && !warned {
				// Once: a looping sender must not fill the log.
				fmt.Fprintf(os.Stderr, "WARNING: ignored a notification from PID %d: only the instance's init (PID %d) is listened to\n", pid, init)
				warned = true
			}
			continue
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
	// log is where logTo copies the console.
	log io.Writer
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
	master, err := pollable(m)
	if err != nil {
		s.Close()
		return nil, err
	}
	return &console{master: master, slave: s, drained: make(chan struct{})}, nil
}

// pollable returns f as a file the runtime's poller serves, so that reads
// honour deadlines (pauseLogging needs one): pty.Open hands out the master
// in blocking mode. f is closed; the result holds a duplicate.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// logTo copies everything written to the console into w (the .out log).
// The slave stays open in the monitor, so the console never hangs up when
// getty restarts.
func (c *console) logTo(w io.Writer) {
	c.log = w
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

// pauseLogging stops copying the console once what was read is written, so
// that a re-executed monitor takes over without losing any of it: the rest
// waits in the pty, whose writers block while it is full. It reports
// whether the copier stopped.
func (c *console) pauseLogging() bool {
	if err := c.master.SetReadDeadline(time.Now()); err != nil {
		return false
	}
	select {
	case <-c.drained:
		return true
	case <-time.After(5 * time.Second):
		// Stuck writing (a slow disk): let it carry on as it was.
		_ = c.master.SetReadDeadline(time.Time{})
		return false
	}
}

// resumeLogging copies the console again after pauseLogging.
func (c *console) resumeLogging() {
	_ = c.master.SetReadDeadline(time.Time{})
	c.drained = make(chan struct{})
	c.logTo(c.log)
}

// consoleLog is the console log, NAME.out: once it holds max bytes it is
// moved to NAME.out.1 (replacing the one before) and started anew, so an
// instance that writes to its console without end cannot fill the disk.
type consoleLog struct {
	f    *os.File
	path string
	max  int64
	size int64
}

// newConsoleLog appends to the log at path, which may hold the logs of
// earlier instances of the name (and, for a resident monitor, what the
// monitor before it wrote, perhaps after a rotation): it is opened by
// path, not taken from standard output, which may be the rotated file.
// Standard output serves when path cannot be opened.
func newConsoleLog(path string, max int64) *consoleLog {
	f, err := instance.OpenLog(path)
	if err != nil {
		f, path = os.Stdout, ""
	}
	l := &consoleLog{f: f, path: path, max: max}
	if fi, err := f.Stat(); err == nil {
		l.size = fi.Size()
	}
	return l
}

func (l *consoleLog) Write(p []byte) (int, error) {
	if l.f == nil {
		return len(p), nil // rotation failed: drop rather than grow
	}
	if l.max > 0 && l.path != "" && l.size+int64(len(p)) > l.max && l.size > 0 {
		l.rotate()
		if l.f == nil {
			return len(p), nil
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate moves the log aside and opens a new one in its place; the old
// descriptor (the monitor's standard output) keeps pointing at the moved
// file, which is no longer written to.
func (l *consoleLog) rotate() {
	_ = os.Rename(l.path, l.path+".1")
	f, err := instance.OpenLog(l.path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "WARNING: the console log could not be rotated, console output is dropped from now on: %v\n", err)
		l.f = nil
		return
	}
	if l.f != os.Stdout {
		l.f.Close()
	}
	l.f, l.size = f, 0
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

// bootState asks the instance's systemd how the boot went. The image's
// systemctl does the asking: it is the image's own code, so it runs with
// less than the instance itself has (see queryConfig), and what it prints
// is taken as untrusted data.
func bootState(pid int, sc *nsenter.Seccomp) (state string, failed []string) {
	units := make(chan []string, 1)
	go func() {
		out, err := runInInstance(pid, sc, "systemctl", "list-units", "--state=failed", "--plain", "--no-legend", "--no-pager")
		if err != nil {
			units <- nil
			return
		}
		units <- parseFailedUnits(out)
	}()
	out, _ := runInInstance(pid, sc, "systemctl", "is-system-running")
	return parseSystemState(out), <-units
}

// systemStates are the answers of `systemctl is-system-running`.
var systemStates = []string{"initializing", "starting", "running", "degraded", "maintenance", "stopping", "offline"}

// parseSystemState returns the state systemctl printed, or "unknown" for
// anything that is not one of systemd's states.
func parseSystemState(out []byte) string {
	s := strings.TrimSpace(string(out))
	if slices.Contains(systemStates, s) {
		return s
	}
	return "unknown"
}

// unitName is what systemd accepts as a unit name (unit_name_is_valid):
// a name of at most 255 characters from its set, then a known suffix.
var unitName = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]{1,200}\.(service|socket|target|device|mount|automount|swap|timer|path|slice|scope)$`)

// maxFailedUnits bounds the list: a few failed units are news, thousands
// are an image trying to fill the instance file.
const maxFailedUnits = 64

// parseFailedUnits returns the unit names at the start of the lines of
// `systemctl list-units --state=failed --plain --no-legend`; lines that do
// not start with a valid unit name are left out.
func parseFailedUnits(out []byte) []string {
	var units []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !unitName.MatchString(f[0]) {
			continue
		}
		if len(units) == maxFailedUnits {
			units = append(units, "...")
			break
		}
		units = append(units, f[0])
	}
	return units
}

// queryConfig is how the runtime runs a query in an instance: with no
// capabilities at all and no_new_privs, whatever the instance has, under
// the instance's seccomp filter sc, from
// the runtime's own PATH (no /usr/local, where an image would put a
// wrapper), in systemd's plain output mode.
func queryConfig(args []string, sc *nsenter.Seccomp) JoinConfig {
	return JoinConfig{
		Seccomp:    sc,
		Cgroup:     true,
		Args:       args,
		Env:        []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "LANG=C"},
		Cwd:        "/",
		Caps:       []string{},
		NoNewPrivs: true,
	}
}

// runInInstance runs a query inside every namespace of an instance and
// returns its standard output (at most 64 KiB of it).
func runInInstance(pid int, sc *nsenter.Seccomp, args ...string) ([]byte, error) {
	cmd, err := JoinCommand(pid, queryConfig(args, sc))
	if err != nil {
		return nil, err
	}
	out := &limitedBuffer{max: 64 << 10}
	cmd.Stdout = out
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

// limitedBuffer keeps the first max bytes written to it and drops the
// rest, so that a query's output cannot grow the monitor without bound.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// tailFile returns the last n lines of a log, for error messages. The
// console log is written by the image: each line is indented, so that none
// can pass for a line of the runtime's, and escaped (termtext.Line), so
// that none acts on the terminal that shows the error. Colour sequences
// (SGR) are dropped first and the "\r" the console's line discipline adds
// is trimmed: they carry nothing worth showing escaped.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	text := strings.TrimRight(string(b), "\r\n")
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if l = termtext.Line(sgr.ReplaceAllString(strings.TrimSuffix(l, "\r"), "")); l != "" {
			lines[i] = "  " + l
		} else {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// sgr matches a colour or attribute sequence, CSI ... m.
var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// newPollable is os.NewFile for an inherited descriptor that must honour
// read deadlines: it is made non-blocking first.
func newPollable(fd int, name string) *os.File {
	_ = unix.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), name)
}
