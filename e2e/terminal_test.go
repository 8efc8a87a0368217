//go:build e2e

package e2e

// Terminal injection (issue 14, finding 6): text a booted image chooses
// (systemd's STATUS=, the names it gives host links) reaches the terminal
// of `instance start` and `hostnet diff` escaped, never as control
// sequences.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/creack/pty"
)

// hostileStatus sends, as early in the boot as it can, a STATUS= text that
// would set the window title, clear the screen, return to the start of the
// line and print a fake line of ours, then a right-to-left override and,
// after a newline, another fake line. With CAP_NET_ADMIN (no user
// namespace, --keep-privs) it also names a new host link with escape codes.
const hostileStatus = `#!/bin/sh
s=$(printf '\033]0;pwned\007\033[2J\033[H\rINFO:    host-network guard: host network unchanged \342\200\256evil\nINFO:    forged line')
ip link add "$(printf '\033]0;pwn\007')" type veth peer name e2etermpeer 2>/dev/null || true
NOTIFY_SOCKET=/run/host/notify exec systemd-notify --status="$s"
`

// statusEscaped is what `instance start` would print of that STATUS= text,
// escaped, were it relayed; it is not, as it does not come from init (the
// escaping itself is tested in cmd/internal/cli).
const statusEscaped = `\x1b]0;pwned\x07\x1b[2J\x1b[H\rINFO:    host-network guard: host network unchanged \u202eevil`

// hostileLink is the name the layer gives a host link; linkEscaped how it
// must be shown.
const (
	hostileLink = "\x1b]0;pwn\x07"
	linkEscaped = `\x1b]0;pwn\x07`
)

func hostileLayer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]struct {
		content string
		mode    os.FileMode
	}{
		"usr/local/sbin/hostile-status": {hostileStatus, 0o755},
		"etc/systemd/system/hostile-status.service": {"[Unit]\nDescription=hostile STATUS= text\nDefaultDependencies=no\n" +
			"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/local/sbin/hostile-status\n[Install]\nWantedBy=sysinit.target\n", 0o644},
	}
	for name, f := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "etc/systemd/system/sysinit.target.wants/hostile-status.service")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/systemd/system/hostile-status.service", link); err != nil {
		t.Fatal(err)
	}
	return dir
}

// apptainerOnTerminal runs apptainer in the fake host with its standard
// error on a terminal (a pty), as a user at a shell would, and returns what
// the terminal received, with the pty's "\r\n" turned back into "\n".
func (h *fakeHost) apptainerOnTerminal(t *testing.T, args ...string) (terminal string, r result) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("cannot open a pty: %v", err)
	}
	defer master.Close()
	a := h.nsenterArgs(append([]string{env.Bin}, args...)...)
	cmd := exec.Command(a[0], a[1:]...)
	cmd.Env = []string{"HOME=" + env.Home, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "TERM=xterm"}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, slave
	if err := cmd.Start(); err != nil {
		slave.Close()
		t.Fatalf("cannot run apptainer: %v", err)
	}
	slave.Close()
	var received bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&received, master) // ends with EIO once no one holds the slave
	}()
	err = cmd.Wait()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the terminal was not closed 30 s after apptainer exited: something else holds it")
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cannot run apptainer: %v", err)
	}
	terminal = strings.ReplaceAll(received.String(), "\r\n", "\n")
	r.Stdout, r.Stderr = stdout.String(), terminal
	return terminal, r
}

// assertShowsOnly fails unless s holds only printable characters, spaces
// and newlines: nothing a terminal would act on.
func assertShowsOnly(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if r != '\n' && !unicode.IsPrint(r) {
			t.Errorf("%s holds %U, which a terminal acts on:\n%q", what, r, s)
			return
		}
	}
}

func TestTerminalInjection(t *testing.T) {
	img := linkedImage(t, bootImage(t), hostileLayer(t))
	for _, mode := range []struct {
		name, conf string
		args       []string
	}{
		{"userns", "", nil},
		// Without a user namespace and with --keep-privs, the image can
		// also name a host link, which the guard reports.
		{"no-userns", "boot hostnet userns = optional", []string{"--boot-hostnet-userns=false", "--keep-privs"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			if mode.conf != "" {
				withConf(t, mode.conf)
			}
			h := newFakeHost(t)
			name := "term-" + mode.name
			h.stopOnCleanup(t, name)
			args := append(append([]string{"instance", "start", "--boot", "--boot-hostnet", "--boot-hostnet-guard", "warn"}, mode.args...), img, name)
			out, r := h.apptainerOnTerminal(t, args...)
			mustSucceed(t, r, "instance start on a terminal")
			// The unit sent its STATUS= (the attack was delivered)...
			if r := h.apptainer(t, "exec", "instance://"+name, "systemctl", "is-active", "hostile-status.service"); strings.TrimSpace(r.Stdout) != "active" {
				t.Fatalf("the hostile unit did not run, so nothing was tested:\n%s", r)
			}
			// ...but only PID 1's notifications count: a unit's STATUS=
			// never reaches the terminal, escaped or not, while init's do.
			if strings.Contains(out, "pwned") || strings.Contains(out, statusEscaped) {
				t.Errorf("a STATUS= text sent by a unit, not by init, reached the terminal:\n%s", out)
			}
			if !strings.Contains(out, "INFO:    Ready.\n") {
				t.Errorf("init's own STATUS= (\"Ready.\") did not reach the terminal: the relay is broken, not selective:\n%s", out)
			}
			assertShowsOnly(t, "the terminal of instance start", out)
			assertShowsOnly(t, "the standard output of instance start", r.Stdout)
			genuine := 0
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "INFO:    forged line") {
					t.Errorf("a line forged by the image was printed: %q", line)
				}
				if strings.HasPrefix(line, "INFO:    host-network guard: host network unchanged") {
					genuine++
				}
			}
			if mode.name == "userns" {
				// The instance cannot change the host: the guard's own line,
				// once.
				if genuine != 1 {
					t.Errorf("%d lines start like the guard's \"host network unchanged\", want exactly the guard's own:\n%s", genuine, out)
				}
				return
			}
			// No user namespace: the link was made, and the guard's warning
			// names it escaped.
			if genuine != 0 {
				t.Errorf("the host changed, yet %d lines say it did not:\n%s", genuine, out)
			}
			if !strings.Contains(out, "WARNING: the host network changed while "+name+" booted:\n") || !strings.Contains(out, linkEscaped) {
				t.Errorf("the guard's warning does not show the new link, escaped:\n%s", out)
			}
			diff := h.apptainer(t, "hostnet", "diff", name)
			if diff.Code != 1 || !strings.Contains(diff.Stdout, linkEscaped) {
				t.Errorf("hostnet diff does not show the new link, escaped:\n%s", diff)
			}
			assertShowsOnly(t, "hostnet diff", diff.Stdout)
			// JSON keeps the name as it is, correctly encoded.
			js := h.apptainer(t, "hostnet", "diff", "--json", name)
			assertShowsOnly(t, "hostnet diff --json", strings.ReplaceAll(js.Stdout, "\t", " "))
			var report struct {
				Changes []struct{ Op, Kind, Object string }
			}
			if err := json.Unmarshal([]byte(js.Stdout), &report); err != nil {
				t.Fatalf("hostnet diff --json: %v\n%s", err, js)
			}
			found := false
			for _, c := range report.Changes {
				found = found || (c.Kind == "link" && c.Object == hostileLink)
			}
			if !found {
				t.Errorf("hostnet diff --json lacks the link %q as it is named:\n%s", hostileLink, js.Stdout)
			}
		})
	}
}
