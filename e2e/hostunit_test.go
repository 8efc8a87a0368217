//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The host unit (apptainer-instance@.service) needs systemd as the host's
// PID 1, which this machine's is not. So a booted instance of the cached
// Debian image plays the host: this build, installed with `make install`
// into a staging root, is bound into it at /usr/local (unit included, in
// /usr/local/lib/systemd/system), and the same image, bound read-only at
// /srv/demo, is the instance the unit boots inside it. Why this runtime
// and not systemd-nspawn -b: on this hybrid cgroup host nspawn, with no
// systemd to give it a scope, runs the container outside any cgroup
// namespace ("0::/.."), where nothing below it can be delegated; a booted
// instance of ours gets a cgroup namespace of its own, whose systemd runs
// the unified hierarchy and delegates as on a real host. The nested
// runtime works under the outer instance's seccomp filter (see
// keyringLeft); no extra privileges (--keep-privs) are needed.

// unitHost is the booted instance that plays the host.
type unitHost struct {
	name string
}

// run runs a command in the fake host, as root there.
func (h unitHost) run(t *testing.T, args ...string) result {
	t.Helper()
	return apptainer(t, append([]string{"exec", "instance://" + h.name}, args...)...)
}

// show returns systemctl show's value of property for the unit.
func (h unitHost) show(t *testing.T, unit, property string) string {
	t.Helper()
	r := h.run(t, "systemctl", "show", "--value", "-p", property, unit)
	mustSucceed(t, r, "systemctl show -p "+property)
	return strings.TrimSpace(r.Stdout)
}

// installStaged configures a build directory with the prefix /usr/local
// and installs it into a staging root, as a packager would.
func installStaged(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	build, stage := filepath.Join(t.TempDir(), "build"), t.TempDir()
	for _, c := range [][]string{
		{filepath.Join(repo, "mconfig"), "-b", build, "--prefix=/usr/local"},
		{"make", "-s", "-C", build, "install", "DESTDIR=" + stage},
	} {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	return stage
}

func TestHostUnit(t *testing.T) {
	img := bootImage(t)
	stage := installStaged(t)
	unitPath := filepath.Join(stage, "usr/local/lib/systemd/system/apptainer-instance@.service")
	if b, err := os.ReadFile(unitPath); err != nil || !strings.Contains(string(b), "ExecStart=/usr/local/bin/apptainer instance start --delegated-cgroup --conf /usr/local/etc/apptainer/instances/%i.conf %i") {
		t.Fatalf("make install did not install the unit with its paths filled in: %v\n%s", err, b)
	}
	conf := "# the instance the unit boots\nimage = /srv/demo\nboot = true\nnetwork = none\nhostname = demo\n"
	if err := os.WriteFile(filepath.Join(stage, "usr/local/etc/apptainer/instances/demo.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	h := unitHost{name: "unithost"}
	stopOnCleanup(t, h.name)
	mustSucceed(t, apptainer(t, "instance", "start", "--boot", "--network", "none",
		"--bind", filepath.Join(stage, "usr/local")+":/usr/local", "--bind", img+":/srv/demo:ro", img, h.name), "boot the fake host")

	const unit = "apptainer-instance@demo.service"
	// systemctl start returns once the instance's systemd reported ready:
	// instance list shows it running at once, and the unit's main process
	// is its monitor.
	mustSucceed(t, h.run(t, "systemctl", "start", unit), "systemctl start "+unit)
	list := h.run(t, "apptainer", "instance", "list", "--json", "demo")
	mustSucceed(t, list, "instance list in the fake host")
	if !strings.Contains(list.Stdout, `"state": "running"`) {
		t.Fatalf("systemctl start returned before the instance was running:\n%s", list)
	}
	initPID := nestedInitPID(t, list.Stdout)
	mainPID := h.show(t, unit, "MainPID")
	cmdline := h.run(t, "cat", "/proc/"+mainPID+"/cmdline")
	if !strings.HasPrefix(cmdline.Stdout, "Apptainer instance: root [demo]") {
		t.Errorf("the unit's main process %s is %q, want the instance's monitor", mainPID, cmdline.Stdout)
	}
	if got := h.show(t, unit, "ActiveState"); got != "active" {
		t.Errorf("ActiveState %s, want active", got)
	}
	if got := h.show(t, unit, "StatusText"); !strings.Contains(got, "demo: running") {
		t.Errorf("StatusText %q, want the instance's state", got)
	}
	// The instance's cgroup is below the unit's: systemctl status lists
	// its processes, its systemd's services among them.
	unitCgroup := h.show(t, unit, "ControlGroup")
	if !strings.HasSuffix(unitCgroup, "/"+unit) {
		t.Errorf("the unit's cgroup is %q", unitCgroup)
	}
	cg := h.run(t, "cat", "/proc/"+initPID+"/cgroup")
	if want := "0::" + unitCgroup + "/apptainer/root.demo/init.scope\n"; !strings.Contains(cg.Stdout, want) {
		t.Errorf("the instance's init is in cgroup %q, want %s", strings.TrimSpace(cg.Stdout), want)
	}
	// (The positive control of the check after stop that it is gone.)
	if r := h.run(t, "test", "-d", "/sys/fs/cgroup"+unitCgroup+"/apptainer/root.demo"); r.Code != 0 {
		t.Errorf("no cgroup directory for the instance below the unit's:\n%s", r)
	}
	status := h.run(t, "systemctl", "status", "--no-pager", "-l", "--lines=0", unit)
	for _, want := range []string{"Status: \"demo: running\"", "└─root.demo", "init.scope", "/sbin/init", "systemd-journald", "Apptainer instance: root [demo]"} {
		if !strings.Contains(status.Stdout, want) {
			t.Errorf("systemctl status lacks %q:\n%s", want, status)
		}
	}

	// Joining the nested instance works under the fake host's seccomp
	// filter too (apptainer-nsenter's keyring step, see keyringLeft).
	if r := h.run(t, "apptainer", "exec", "instance://demo", "hostname"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "demo" {
		t.Errorf("exec instance://demo in the fake host:\n%s", r)
	}

	// systemctl stop halts it cleanly: the console log shows systemd's
	// shutdown, and the unit ends without failure (the positive control
	// of the crash below).
	mustSucceed(t, h.run(t, "systemctl", "stop", unit), "systemctl stop "+unit)
	if got := h.show(t, unit, "ActiveState") + " " + h.show(t, unit, "Result"); got != "inactive success" {
		t.Errorf("after systemctl stop the unit is %s, want inactive success", got)
	}
	console := h.run(t, "sh", "-c", "cat /root/.apptainer/instances/logs/*/root/demo.out")
	if !strings.Contains(console.Stdout, "Halting system") || !strings.Contains(console.Stdout, "Stopped target") {
		t.Errorf("the console log shows no systemd shutdown:\n%s", tail(console.Stdout, 15))
	}
	errLog := h.run(t, "sh", "-c", "cat /root/.apptainer/instances/logs/*/root/demo.err")
	if !strings.Contains(errLog.Stdout, "init halted cleanly") {
		t.Errorf("the monitor did not report a clean halt:\n%s", errLog.Stdout)
	}
	if r := h.run(t, "test", "-e", "/sys/fs/cgroup"+unitCgroup+"/apptainer"); r.Code == 0 {
		t.Error("the instance's cgroup is left below the unit's after stop")
	}

	// A crash of the instance's init fails the unit, and Restart=on-failure
	// boots it again.
	mustSucceed(t, h.run(t, "systemctl", "start", unit), "systemctl start "+unit+" again")
	initPID = nestedInitPID(t, h.run(t, "apptainer", "instance", "list", "--json", "demo").Stdout)
	mustSucceed(t, h.run(t, "kill", "-KILL", initPID), "kill the instance's init")
	waitFor(t, 3*time.Minute, "the unit to be restarted after the crash", func() (bool, string) {
		got := h.show(t, unit, "NRestarts") + " " + h.show(t, unit, "ActiveState") + " " + h.show(t, unit, "SubState")
		return got == "1 active running", got
	})
	again := nestedInitPID(t, h.run(t, "apptainer", "instance", "list", "--json", "demo").Stdout)
	if again == initPID {
		t.Errorf("the restarted instance has the killed init's PID %s", again)
	}
	// A reboot asked for inside is no clean end either: the unit boots
	// the instance again.
	mustSucceed(t, h.run(t, "apptainer", "exec", "instance://demo", "systemctl", "reboot"), "systemctl reboot in the instance")
	waitFor(t, 3*time.Minute, "the unit to be restarted after the reboot request", func() (bool, string) {
		got := h.show(t, unit, "NRestarts") + " " + h.show(t, unit, "ActiveState") + " " + h.show(t, unit, "SubState")
		return got == "2 active running", got
	})
	again = nestedInitPID(t, h.run(t, "apptainer", "instance", "list", "--json", "demo").Stdout)

	// Without Restart=, the crash leaves the unit failed, with the status
	// of the killed init.
	dropIn := "/run/systemd/system/" + unit + ".d"
	mustSucceed(t, h.run(t, "sh", "-c", "mkdir -p "+dropIn+" && printf '[Service]\\nRestart=no\\n' >"+dropIn+"/norestart.conf && systemctl daemon-reload"), "a drop-in without restart")
	mustSucceed(t, h.run(t, "kill", "-KILL", again), "kill the instance's init again")
	waitFor(t, 2*time.Minute, "the unit to fail after the crash", func() (bool, string) {
		got := h.show(t, unit, "ActiveState") + " " + h.show(t, unit, "Result") + " " + h.show(t, unit, "ExecMainStatus")
		return got == "failed exit-code 137", got
	})
	if r := h.run(t, "apptainer", "instance", "list", "demo"); strings.Contains(r.Stdout, "demo ") {
		t.Errorf("the crashed instance is still listed:\n%s", r)
	}
	mustSucceed(t, h.run(t, "systemctl", "reset-failed", unit), "systemctl reset-failed")
}

// nestedInitPID is the PID of the instance's init in instance list --json
// output (as the fake host sees it).
func nestedInitPID(t *testing.T, listJSON string) string {
	t.Helper()
	i := strings.Index(listJSON, `"pid": `)
	if i < 0 {
		t.Fatalf("no pid in instance list:\n%s", listJSON)
	}
	rest := listJSON[i+len(`"pid": `):]
	end := strings.IndexAny(rest, ",\n}")
	pid, err := strconv.Atoi(strings.TrimSpace(rest[:end]))
	if err != nil || pid <= 0 {
		t.Fatalf("bad pid in instance list: %v\n%s", err, listJSON)
	}
	return fmt.Sprint(pid)
}

// TestInstanceStartNotifies plays systemd's side of Type=notify for a plain
// instance: instance start reports its progress, then hands over to the
// monitor (MAINPID=) with READY=1, and waits until the manager read that
// (BARRIER=1); the socket's address reaches neither the monitor nor the
// container, which must not talk to the service manager in its name.
func TestInstanceStartNotifies(t *testing.T) {
	const name = "notified"
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan string, 64)
	go func() {
		for {
			buf, oob := make([]byte, 4096), make([]byte, 256)
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				close(got)
				return
			}
			// Release a barrier as systemd does: close what came with it.
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, m := range msgs {
					if fds, err := unix.ParseUnixRights(&m); err == nil {
						for _, fd := range fds {
							unix.Close(fd)
						}
					}
				}
			}
			got <- string(buf[:n])
		}
	}()
	stopOnCleanup(t, name)
	r := apptainerEnv(t, []string{"NOTIFY_SOCKET=" + sock, "APPTAINER_E2E_NOTIFY_PROBE=1"}, "instance", "start", env.Busybox, name)
	mustSucceed(t, r, "instance start under a notify socket")
	if strings.Contains(r.Stderr, "WARNING") {
		t.Errorf("instance start warned (a barrier not released, a message not sent?):\n%s", r)
	}
	var msgs []string
	for done := false; !done; {
		select {
		case m := <-got:
			msgs = append(msgs, m)
			done = m == "BARRIER=1"
		case <-time.After(10 * time.Second):
			t.Fatalf("no BARRIER=1 from instance start; got %q", msgs)
		}
	}
	monitor, err := findMonitor(name)
	if err != nil || monitor == 0 {
		t.Fatalf("no monitor of %s: %v", name, err)
	}
	if len(msgs) < 3 || !strings.HasPrefix(msgs[0], "STATUS=starting instance "+name) {
		t.Errorf("want STATUS= lines first; got %q", msgs)
	}
	ready := msgs[len(msgs)-2]
	if want := fmt.Sprintf("MAINPID=%d\nREADY=1\nSTATUS=%s: ", monitor, name); !strings.HasPrefix(ready, want) {
		t.Errorf("the last message before the barrier is %q, want it to start with %q", ready, want)
	}
	inst := getInstance(t, name)
	// The monitor re-executes itself once the instance runs: read its
	// environment once it is the resident one.
	waitFor(t, 30*time.Second, "the resident monitor", func() (bool, string) {
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", monitor))
		return strings.Contains(string(environ), "_APPTAINER_STAGE=monitor-resident"), string(environ)
	})
	for what, pid := range map[string]int{"the monitor": monitor, "the container's PID 1": inst.Pid} {
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(environ), "NOTIFY_SOCKET") {
			t.Errorf("%s inherited NOTIFY_SOCKET", what)
		}
	}
	// Positive control of the environ check: the caller's other
	// variables do reach the monitor, and are found there.
	if environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", monitor)); err != nil || !strings.Contains(string(environ), "APPTAINER_E2E_NOTIFY_PROBE=1") {
		t.Errorf("positive control: a variable of the caller's is not in the monitor's environment (%v)", err)
	}
}
