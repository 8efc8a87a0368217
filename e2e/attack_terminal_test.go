//go:build e2e

package e2e

// Issue 15, finding 2: the caller's terminal never reaches an instance. A
// process that a join leaves behind in the instance must hold no
// descriptor of the caller's terminal (through which it could read what
// the caller types next), and no process of the instance may push input
// into it with TIOCSTI, which the caller's shell would run on the host.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// callerTerminal is the terminal of a user at a shell: a pty whose slave is
// the controlling terminal of the commands run on it.
type callerTerminal struct {
	master, slave *os.File
	rdev          uint64
	mu            sync.Mutex
	output        bytes.Buffer
	copied        chan struct{}
}

func newCallerTerminal(t *testing.T) *callerTerminal {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("cannot open a pty: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	ct := &callerTerminal{master: master, slave: slave, rdev: st.Rdev, copied: make(chan struct{})}
	go func() {
		defer close(ct.copied)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			ct.mu.Lock()
			ct.output.Write(buf[:n])
			ct.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { slave.Close(); master.Close(); <-ct.copied })
	return ct
}

// outputText is what the terminal has shown so far.
func (ct *callerTerminal) outputText() string {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.output.String()
}

// run runs apptainer in the fake host in a session of its own whose
// controlling terminal is ct, with standard input, output and error on it.
func (ct *callerTerminal) run(t *testing.T, h *fakeHost, args ...string) int {
	t.Helper()
	a := h.nsenterArgs(append([]string{env.Bin}, args...)...)
	cmd := exec.Command(a[0], a[1:]...)
	cmd.Env = []string{"HOME=" + env.Home, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "TERM=xterm"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = ct.slave, ct.slave, ct.slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("cannot run apptainer: %v", err)
	}
	return 0
}

// pendingInput is how many bytes wait in the terminal's input queue: what
// the caller's shell would read next as if typed.
func (ct *callerTerminal) pendingInput(t *testing.T) int {
	t.Helper()
	n, err := unix.IoctlGetInt(int(ct.slave.Fd()), unix.TIOCINQ)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// holders lists the processes, other than this one, with a descriptor of
// the terminal open.
func (ct *callerTerminal) holders(t *testing.T) []string {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			var st unix.Stat_t
			if unix.Stat(filepath.Join("/proc", p.Name(), "fd", fd.Name()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == ct.rdev {
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				found = append(found, fmt.Sprintf("%d (%s) fd %s", pid, strings.TrimSpace(string(comm)), fd.Name()))
			}
		}
	}
	return found
}

func TestAttackCallerTerminal(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti"); err == nil && strings.TrimSpace(string(b)) == "0" {
		t.Log("dev.tty.legacy_tiocsti = 0 here: TIOCSTI is refused to everyone without CAP_SYS_ADMIN; the leftover-descriptor half still runs")
	}
	img := bootImage(t)
	h := newFakeHost(t)

	// Positive controls: a process given the terminal is found holding it,
	// and input pushed with TIOCSTI is seen waiting in the queue.
	ct := newCallerTerminal(t)
	ctl := exec.Command("sleep", "600")
	ctl.Stdin = ct.slave
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	if held := ct.holders(t); len(held) != 1 || !strings.HasPrefix(held[0], strconv.Itoa(ctl.Process.Pid)+" ") {
		t.Errorf("positive control: the scan for holders of the terminal found %v, want only %d", held, ctl.Process.Pid)
	}
	_ = ctl.Process.Kill()
	_ = ctl.Wait()
	for _, c := range []byte("x\n") {
		if err := unix.IoctlSetPointerInt(int(ct.slave.Fd()), unix.TIOCSTI, int(c)); err != nil {
			t.Fatalf("positive control: TIOCSTI: %v", err)
		}
	}
	if n := ct.pendingInput(t); n != 2 {
		t.Fatalf("positive control: %d bytes wait after TIOCSTI of 2", n)
	}
	if err := unix.IoctlSetInt(int(ct.slave.Fd()), unix.TCFLSH, unix.TCIFLUSH); err != nil {
		t.Fatal(err)
	}

	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			name := "attack-tty-" + m.name
			startHostnet(t, h, m.name, img, name)
			ct := newCallerTerminal(t)
			// The join pushes a command into its terminal and leaves a
			// process behind, in a session of its own (out of job
			// control's reach), holding the terminal: it could read what
			// the caller types next, or push input later. (A background
			// job's standard input is /dev/null: the terminal goes
			// through fd 3.)
			script := `perl -e 'ioctl(STDIN, 0x5412, $_) or die "TIOCSTI: $!\n" for split //, "echo INJECTED\n"' || true
exec 3<&0
rm -f /tmp/left-up
setsid sh -c 'touch /tmp/left-up; exec sleep 600 <&3 3<&-' >/dev/null 2>&1 &
until [ -e /tmp/left-up ]; do sleep 0.05; done
echo joined`
			if code := ct.run(t, h, "exec", "instance://"+name, "sh", "-c", script); code != 0 {
				t.Fatalf("exec instance:// exited %d; terminal:\n%s", code, ct.outputText())
			}
			t.Cleanup(func() { h.inInstance(t, name, "pkill -x sleep || true") })
			// What the join printed reached the caller's terminal.
			waitFor(t, 10*time.Second, "the join's output on the caller's terminal", func() (bool, string) {
				out := ct.outputText()
				return strings.Contains(out, "joined"), out
			})
			if n := ct.pendingInput(t); n != 0 {
				t.Errorf("a process of the instance pushed %d bytes into the caller's terminal (TIOCSTI)", n)
			}
			if held := ct.holders(t); len(held) > 0 {
				t.Errorf("after the join returned, processes hold the caller's terminal: %v", held)
			}
			// Through the pseudo-terminal, the exit status is the command's.
			if code := ct.run(t, h, "exec", "instance://"+name, "sh", "-c", "exit 3"); code != 3 {
				t.Errorf("exec instance:// sh -c 'exit 3' on a terminal exited %d, want 3", code)
			}
		})
	}
}
