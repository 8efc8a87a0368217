//go:build e2e

package e2e

// Fault injection: each fault must give a clear error and leave nothing
// behind. Faults in CNI use a private network ("relfault", its own bridge
// and subnet) so its IPAM leases are the test's alone.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const faultNet = "relfault"

// withFaultPlugin installs a CNI plugin directory holding the real plugins
// plus a fake one named "fault" running script, a conflist chaining the
// bridge plugin and the fake one, and points apptainer.conf at both. All
// is undone at cleanup.
func withFaultPlugin(t *testing.T, h *fakeHost, script string) {
	t.Helper()
	dir := t.TempDir()
	real, _ := filepath.Glob("/usr/lib/cni/*")
	for _, p := range real {
		if err := os.Symlink(p, filepath.Join(dir, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "fault"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	privateNet(t, faultNet, "rbr7", "10.97.0.0/16", `,{"type":"fault"}`)
	withConf(t, "cni plugin path = "+dir)
	// The bridge and CNI's chains are created at first use and kept by
	// design: make them part of the baseline with a network sharing the
	// bridge but not the fake plugin.
	privateNet(t, faultNet+"-warm", "rbr7", "10.97.0.0/16", "")
	a := h.nsenterArgs(env.Bin, "exec", "--network", faultNet+"-warm", env.Busybox, "true")
	mustSucceed(t, apptainerCmd(t, nil, a[0], a[1:]...), "exec (warm-up)")
	waitNoTentative(t, h, "the warm-up made the bridge rbr7")
}

// privateNet installs a bridge network of the test's own (name, bridge,
// subnet), with more plugins appended to its chain, until the test ends.
func privateNet(t *testing.T, name, bridge, subnet, more string) {
	t.Helper()
	list := filepath.Join(env.ConfDir, "network", "95_"+name+".conflist")
	content := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[`+
		`{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":%q}]]}}%s]}`,
		name, bridge, subnet, more)
	if err := os.WriteFile(list, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(list) })
}

func TestFaultCNIPluginFails(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	withFaultPlugin(t, h, `if [ "$CNI_COMMAND" = ADD ]; then
echo '{"cniVersion":"1.0.0","code":11,"msg":"fault plugin refuses"}'; exit 1; fi
echo '{}'
`)
	sc := scope{Names: []string{"cnifail1"}, Nets: []string{faultNet}}
	before := takeHostState(t, h, sc)
	r := h.apptainer(t, "instance", "start", "--boot", "--network", faultNet, img, "cnifail1")
	mustFail(t, r, "fault plugin refuses")
	assertNoTraces(t, h, "cnifail1")
	assertSameHostState(t, h, sc, before)
}

func TestFaultCNIPluginHangs(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	pidFile := filepath.Join(t.TempDir(), "plugin.pid")
	withFaultPlugin(t, h, `if [ "$CNI_COMMAND" = ADD ]; then echo $$ > `+pidFile+`; exec sleep 600; fi
echo '{}'
`)
	sc := scope{Names: []string{"cnihang1"}, Nets: []string{faultNet}}
	before := takeHostState(t, h, sc)
	start := time.Now()
	r := h.apptainer(t, "instance", "start", "--boot", "--network", faultNet, img, "cnihang1")
	took := time.Since(start)
	if r.Code == 0 {
		t.Fatalf("start with a hanging plugin succeeded:\n%s", r)
	}
	if !strings.Contains(r.Stderr, "deadline") && !strings.Contains(r.Stderr, "timed out") && !strings.Contains(r.Stderr, "timeout") {
		t.Errorf("the error does not say the plugin timed out:\n%s", r)
	}
	if took > 30*time.Second {
		t.Errorf("start took %s with a hanging plugin (5 s per CNI pass)", took)
	}
	if b, err := os.ReadFile(pidFile); err != nil {
		t.Errorf("the fake plugin never ran: %v", err)
	} else if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || pid <= 0 {
		t.Errorf("the fake plugin's PID file holds %q: %v", b, err)
	} else if syscall.Kill(pid, 0) == nil {
		t.Errorf("the hanging plugin (PID %d) was not killed", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	assertNoTraces(t, h, "cnihang1")
	assertSameHostState(t, h, sc, before)
}

func TestFaultConflistDoesNotParse(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	bad := filepath.Join(env.ConfDir, "network", "96_unparsable.conflist")
	if err := os.WriteFile(bad, []byte(`{"cniVersion":"1.0.0","name":"unparsable","plugins":[{"type":`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(bad) })
	sc := scope{Names: []string{"badlist1"}}
	before := takeHostState(t, h, sc)
	r := h.apptainer(t, "instance", "start", "--boot", "--network", "unparsable", img, "badlist1")
	mustFail(t, r, "96_unparsable.conflist")
	assertNoTraces(t, h, "badlist1")
	assertSameHostState(t, h, sc, before)
}

// layerWith makes an image layer holding the given files (mode in the
// name's map value's first line is not needed: scripts are 0755, others
// 0644) for stackedImage.
func layerWith(t *testing.T, files map[string]string, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFaultInit(t *testing.T) {
	base := bootImage(t)
	// A whiteout (a 0:0 character device) hides /sbin/init of the image
	// (/sbin is a symlink to usr/sbin in a merged-/usr Debian).
	missing := t.TempDir()
	if err := os.MkdirAll(filepath.Join(missing, "usr", "sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(missing, "usr", "sbin", "init"), syscall.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, layer, want string
	}{
		{"initmissing", missing, "--boot needs /sbin/init in the image"},
		{"initnoexec", layerWith(t, map[string]string{"usr/sbin/init": "#!/bin/sh\nexec sleep 600\n"}, 0o644), "exec /sbin/init failed: permission denied"},
		{"initexits", layerWith(t, map[string]string{"usr/sbin/init": "#!/bin/sh\necho init gives up >&2\nexit 3\n"}, 0o755), "init exited before the system was ready"},
	}
	// The images are mounted before the fake host is made: its mount
	// namespace is a copy of the test's at that moment.
	imgs := map[string]string{}
	for _, tt := range tests {
		imgs[tt.name] = stackedImage(t, base, tt.layer)
	}
	h := newFakeHost(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := imgs[tt.name]
			sc := scope{Names: []string{tt.name}}
			before := takeHostState(t, h, sc)
			h.stopOnCleanup(t, tt.name)
			start := time.Now()
			r := h.apptainer(t, "instance", "start", "--boot", "--network", "none", "--boot-timeout", "20", img, tt.name)
			mustFail(t, r, tt.want)
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("the failure took %s to be noticed", d)
			}
			assertNoTraces(t, h, tt.name)
			assertSameHostState(t, h, sc, before)
		})
	}
}

// TestFaultMonitorKilled kills the monitor of a booted bridge instance
// with SIGKILL, while it boots and while it runs: the container dies with
// it, and the next `instance list` cleans the ghost up entirely (cgroup,
// veth and lease, runtime directory, instance file).
func TestFaultMonitorKilled(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	privateNet(t, "relkill", "rbr8", "10.96.0.0/16", "")
	// The first use creates the bridge and CNI's chains, kept by design.
	mustSucceed(t, h.apptainer(t, "exec", "--network", "relkill", env.Busybox, "true"), "exec (warm-up)")
	waitNoTentative(t, h, "the warm-up made the bridge rbr8")
	for _, when := range []string{"running", "booting"} {
		t.Run(when, func(t *testing.T) {
			name := "killed-" + when
			sc := scope{Names: []string{name}, Nets: []string{"relkill"}}
			before := takeHostState(t, h, sc)
			h.stopOnCleanup(t, name)
			if when == "running" {
				mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--network", "relkill", img, name), "start")
				if err := syscall.Kill(monitorPID(t, name), syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Cleanup(func() { releaseByHand(name, "relkill") })
				killDuringBoot(t, h, img, name)
			}
			if !waitGone(name, 10*time.Second) {
				t.Fatal("monitor still running after SIGKILL")
			}
			list := h.apptainer(t, "instance", "list")
			mustSucceed(t, list, "instance list after the kill")
			if strings.Contains(list.Stdout, name) {
				t.Errorf("the ghost is still listed:\n%s", list.Stdout)
			}
			assertNoTraces(t, h, name)
			assertSameHostState(t, h, sc, before)
		})
	}
}

// killDuringBoot starts a booted instance of the relkill network and kills
// its monitor with SIGKILL once the image's init runs (a child of the
// monitor executes systemd) and before start has reported the instance
// ready. The window is as long as systemd's boot; should the kill land
// after READY all the same (start then succeeds), that attempt tested the
// "running" case instead, not this one: it says so, its ghost is cleaned
// up, and the boot is tried again. The subtest fails when no attempt hits
// the window.
func killDuringBoot(t *testing.T, h *fakeHost, img, name string) {
	t.Helper()
	const attempts = 3
	for i := 1; i <= attempts; i++ {
		a := h.nsenterArgs(env.Bin, "instance", "start", "--boot", "--network", "relkill", img, name)
		cmd := exec.Command(a[0], a[1:]...)
		cmd.Env = []string{"HOME=" + env.Home, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var monitor, init int
		waitFor(t, 60*time.Second, "the init of "+name+" to run under its monitor", func() (bool, string) {
			select {
			case err := <-exited:
				t.Fatalf("instance start of %s ended (%v) before its init was seen running:\n%s", name, err, out.String())
			default:
			}
			var err error
			if monitor, err = findMonitor(name); err != nil || monitor == 0 {
				return false, fmt.Sprintf("no monitor yet (%v)", err)
			}
			init = childRunning(monitor, "/systemd")
			return init > 0, fmt.Sprintf("monitor %d has no child running systemd", monitor)
		})
		if err := syscall.Kill(monitor, syscall.SIGKILL); err != nil {
			t.Fatalf("cannot kill the monitor %d: %v", monitor, err)
		}
		var err error
		select {
		case err = <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("instance start still ran 60 s after its monitor was killed:\n%s", out.String())
		}
		if err != nil {
			t.Logf("attempt %d: monitor %d killed while init (PID %d) booted; start failed (%v):\n%s", i, monitor, init, err, out.String())
			return
		}
		t.Logf("attempt %d: start reported the instance ready before the kill landed (the running case, not this one); again", i)
		if !waitGone(name, 10*time.Second) {
			t.Fatal("monitor still running after SIGKILL")
		}
		mustSucceed(t, h.apptainer(t, "instance", "list"), "instance list (cleans up the ghost of the attempt)")
		if tr := traces(h, name); len(tr) > 0 {
			t.Fatalf("the ghost of attempt %d left: %s", i, strings.Join(tr, "; "))
		}
	}
	t.Fatalf("in %d attempts the kill never landed before the instance was ready: the case under test did not happen", attempts)
}

// childRunning returns the PID of a child of ppid whose executable's path
// ends in exeSuffix, or 0.
func childRunning(ppid int, exeSuffix string) int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", ppid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", ppid, task.Name()))
		for _, c := range strings.Fields(string(b)) {
			if exe, err := os.Readlink("/proc/" + c + "/exe"); err == nil && strings.HasSuffix(exe, exeSuffix) {
				pid, _ := strconv.Atoi(c)
				return pid
			}
		}
	}
	return 0
}

// TestFaultStartRace starts the same name twice at once: exactly one wins,
// the other says the instance exists, and one stop leaves nothing.
func TestFaultStartRace(t *testing.T) {
	const name = "race1"
	stopOnCleanup(t, name)
	for round := 0; round < 5; round++ {
		results := make(chan result, 2)
		for i := 0; i < 2; i++ {
			go func() { results <- apptainerEnv(t, nil, "instance", "start", env.Busybox, name) }()
		}
		a, b := <-results, <-results
		wins := 0
		for _, r := range []result{a, b} {
			if r.Code == 0 {
				wins++
			} else if !strings.Contains(r.Stderr, "already exists") {
				t.Errorf("round %d: the loser's error is not clear:\n%s", round, r)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d starts won, want exactly 1:\n%s\n%s", round, wins, a, b)
		}
		mustSucceed(t, apptainer(t, "instance", "stop", name), "stop")
		assertNoTraces(t, nil, name)
	}
}

// TestFaultStopRacesInitExit kills an instance's PID 1 while `instance
// stop` runs: stop must neither hang nor leave anything. This race has no
// condition to wait for: the point is to hit stop at different moments
// (before it has read the instance file, while it signals, while it waits
// for the monitor), which no outside observer can pin down. So the kill
// comes after a delay chosen on purpose, different in each round: 0, 1/4,
// 1/2, 3/4 and all of the time one stop took just before on this machine
// (measured, so that the delays spread over a stop on a fast machine and
// on a busy one alike). Each round logs what the kill found, and at least
// one must have found init alive, or the race under test never happened.
func TestFaultStopRacesInitExit(t *testing.T) {
	const name = "stoprace1"
	stopOnCleanup(t, name)
	mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, name), "start (to time a stop)")
	t0 := time.Now()
	mustSucceed(t, apptainer(t, "instance", "stop", name), "stop (timed)")
	span := time.Since(t0)
	assertNoTraces(t, nil, name)
	t.Logf("one stop takes %s here", span.Round(time.Millisecond))
	killedLive := 0
	for round := 0; round < 5; round++ {
		mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, name), "start")
		inst := getInstance(t, name)
		done := make(chan result, 1)
		go func() { done <- apptainerEnv(t, nil, "instance", "stop", "-t", "10", name) }()
		delay := span * time.Duration(round) / 4
		time.Sleep(delay) // deliberate timing, see above
		switch err := syscall.Kill(inst.Pid, syscall.SIGKILL); {
		case err == nil:
			killedLive++
			t.Logf("round %d (+%s): SIGKILL reached init (PID %d) while stop ran", round, delay.Round(time.Millisecond), inst.Pid)
		case errors.Is(err, syscall.ESRCH):
			t.Logf("round %d (+%s): init (PID %d) was already gone: stop finished first", round, delay.Round(time.Millisecond), inst.Pid)
		default:
			t.Fatalf("round %d: kill init (PID %d): %v", round, inst.Pid, err)
		}
		select {
		case r := <-done:
			if r.Code != 0 && !strings.Contains(r.Stderr, "no instance found") {
				t.Errorf("round %d: stop failed unclearly:\n%s", round, r)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: instance stop hangs", round)
		}
		assertNoTraces(t, nil, name)
	}
	if killedLive == 0 {
		t.Error("in no round did the kill find init alive: the race under test never happened")
	}
}

// releaseByHand removes what a ghost the runtime failed to release leaves
// on the machine (the fake host takes its links and mounts with it).
func releaseByHand(name, net string) {
	_ = os.RemoveAll(filepath.Join("/run/apptainer/instances/root", name))
	roots, _ := cgroupRoots() // best effort: the test has failed already if this matters
	for _, root := range roots {
		cg := filepath.Join(root, "root."+name)
		subs, _ := filepath.Glob(filepath.Join(cg, "*"))
		for _, s := range subs {
			_ = os.Remove(s)
		}
		_ = os.Remove(cg)
	}
	leases, _ := filepath.Glob(filepath.Join(cniStateDir, net, "10.*"))
	for _, l := range leases {
		_ = os.Remove(l)
	}
}
