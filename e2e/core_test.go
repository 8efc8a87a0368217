//go:build e2e

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

type listEntry struct {
	Instance    string   `json:"instance"`
	Pid         int      `json:"pid"`
	Img         string   `json:"img"`
	IP          string   `json:"ip"`
	LogErrPath  string   `json:"logErrPath"`
	LogOutPath  string   `json:"logOutPath"`
	Boot        bool     `json:"boot"`
	BootHostnet bool     `json:"bootHostnet"`
	MaskedUnits []string `json:"maskedUnits"`
	State       string   `json:"state"`
}

func listInstances(t *testing.T, glob string) []listEntry {
	t.Helper()
	r := apptainer(t, "instance", "list", "--json", glob)
	mustSucceed(t, r, "instance list --json")
	var out struct {
		Instances []listEntry `json:"instances"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("instance list --json: %v\n%s", err, r.Stdout)
	}
	return out.Instances
}

func getInstance(t *testing.T, name string) listEntry {
	t.Helper()
	list := listInstances(t, name)
	if len(list) != 1 {
		t.Fatalf("instance list %s: %d entries, want 1", name, len(list))
	}
	return list[0]
}

func instanceFile(name string) string {
	host, _ := os.Hostname()
	return filepath.Join(env.Home, ".apptainer", "instances", "app", host, "root", name, name+".json")
}

func TestExec(t *testing.T) {
	r := apptainer(t, "exec", env.Busybox, "/bin/echo", "hello from busybox")
	mustSucceed(t, r, "exec")
	if strings.TrimSpace(r.Stdout) != "hello from busybox" {
		t.Errorf("stdout = %q", r.Stdout)
	}
	r = apptainer(t, "exec", env.Busybox, "/bin/sh", "-c", "exit 7")
	if r.Code != 7 {
		t.Errorf("exit code %d, want the container's 7", r.Code)
	}
	r = apptainer(t, "exec", "--containall", "--hostname", "boxy", env.Busybox, "/bin/sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; touch / 2>&1 >/dev/null; ls /dev")
	mustSucceed(t, r, "exec --containall")
	lines := strings.Split(r.Stdout, "\n")
	if lines[0] != "boxy" {
		t.Errorf("hostname inside = %q", lines[0])
	}
	if !strings.Contains(r.Stdout, "null") || strings.Contains(r.Stdout, "sda") {
		t.Errorf("minimal /dev expected:\n%s", r.Stdout)
	}
	if output(t, "hostname") != "e2e-host" {
		t.Errorf("host hostname changed")
	}
	r = apptainer(t, "exec", "-B", env.Top+":/mnt/top:ro", env.Busybox, "/bin/sh", "-c", "ls /mnt/top/busybox/bin/busybox && touch /mnt/top/x")
	if r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "Read-only") {
		t.Errorf("read-only bind writable:\n%s", r)
	}
	r = apptainer(t, "exec", "--writable-tmpfs", env.Busybox, "/bin/sh", "-c", "echo x > /newfile && cat /newfile")
	mustSucceed(t, r, "exec --writable-tmpfs")
	if _, err := os.Stat(filepath.Join(env.Busybox, "newfile")); !os.IsNotExist(err) {
		t.Errorf("--writable-tmpfs wrote into the image (%v)", err)
	}
}

func TestExecErrors(t *testing.T) {
	mustFail(t, apptainer(t, "exec", filepath.Join(env.Top, "missing"), "true"), "could not open image")
	// Root has no range in /etc/subuid here: refused, as upstream.
	mustFail(t, apptainer(t, "exec", "--fakeroot", env.Busybox, "true"), "could not use fakeroot: no mapping entry found in /etc/subuid for root")
	mustFail(t, apptainer(t, "exec", "--dns", "not-an-ip", env.Busybox, "true"), "dns ip not-an-ip is not a valid IP address")
	mustFail(t, apptainer(t, "exec", "-B", "/a:/b:/c:/d", env.Busybox, "true"), "/a:/b:/c:/d")
	mustFail(t, apptainer(t, "exec", env.Busybox, "/does/not/exist"), "/does/not/exist")
	r := apptainer(t, "exec", "--boot", env.Busybox, "true")
	if r.Code != 1 || !strings.Contains(r.Stderr, "unknown flag: --boot") {
		t.Errorf("--boot on exec:\n%s", r)
	}
}

// A CLI without its helpers next to it (and not the installed one) still
// runs containers, running the stages itself, and refuses what needs
// apptainer-nsenter with a clear error, leaving nothing behind.
func TestWithoutHelpers(t *testing.T) {
	lone := filepath.Join(t.TempDir(), "apptainer")
	if err := copyFile(env.Bin, lone); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(lone, 0o755); err != nil {
		t.Fatal(err)
	}
	r := apptainerCmd(t, nil, lone, "exec", env.Busybox, "echo", "stages from the CLI")
	mustSucceed(t, r, "exec without apptainer-engine")
	if strings.TrimSpace(r.Stdout) != "stages from the CLI" {
		t.Errorf("stdout = %q", r.Stdout)
	}
	r = apptainerCmd(t, nil, lone, "exec", "--netns-path", "/proc/self/ns/net", env.Busybox, "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "apptainer-nsenter not found next to "+lone) {
		t.Errorf("--netns-path without apptainer-nsenter:\n%s", r)
	}
}

func TestInstanceLifecycle(t *testing.T) {
	const name = "core1"
	stopOnCleanup(t, name)
	mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, name), "instance start")
	inst := getInstance(t, name)
	if inst.Instance != name || inst.Pid <= 0 || inst.Img != env.Busybox || inst.State != "running" {
		t.Fatalf("list entry %+v", inst)
	}
	if _, err := os.Stat(instanceFile(name)); err != nil {
		t.Fatalf("instance file: %v", err)
	}

	// Joining: every namespace equals the instance PID 1's.
	for _, ns := range []string{"mnt", "pid", "uts", "ipc"} {
		r := apptainer(t, "exec", "instance://"+name, "readlink", "/proc/self/ns/"+ns)
		mustSucceed(t, r, "exec instance:// readlink "+ns)
		want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", inst.Pid, ns))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(r.Stdout); got != want {
			t.Errorf("%s namespace inside = %s, instance PID 1 has %s", ns, got, want)
		}
	}
	if readNS(t, fmt.Sprintf("/proc/%d/ns/pid", inst.Pid)) == readNS(t, "/proc/self/ns/pid") {
		t.Error("the instance shares the host's PID namespace")
	}
	r := apptainer(t, "exec", "instance://"+name, "sh", "-c", "echo $$")
	mustSucceed(t, r, "exec instance:// echo $$")
	if strings.TrimSpace(r.Stdout) == "" || strings.TrimSpace(r.Stdout) == "1" {
		t.Errorf("joined shell pid %q", r.Stdout)
	}

	if r := apptainer(t, "exec", "instance://"+name, "sh", "-c", "exit 5"); r.Code != 5 {
		t.Errorf("exit code of a joined command = %d, want 5:\n%s", r.Code, r)
	}
	if r := apptainer(t, "exec", "instance://"+name, "sh", "-c", "kill -TERM $$"); r.Code != 128+15 {
		t.Errorf("exit code of a joined command killed by SIGTERM = %d, want 143:\n%s", r.Code, r)
	}
	mustFail(t, apptainer(t, "exec", "instance://"+name, "nosuchcommand"), "nosuchcommand: executable file not found in $PATH")

	// The join execs straight from apptainer-nsenter: the command gets
	// the instance's capability set as every set (bounding … ambient).
	status := apptainer(t, "exec", "instance://"+name, "grep", "-E", "^(CapPrm|CapEff|CapInh|CapBnd|CapAmb):", "/proc/self/status")
	mustSucceed(t, status, "exec instance:// grep Cap")
	initBnd := statusField(t, inst.Pid, "CapBnd")
	capLines := strings.Split(strings.TrimSpace(status.Stdout), "\n")
	if len(capLines) != 5 {
		t.Errorf("joined process: %d capability sets, want 5:\n%s", len(capLines), status.Stdout)
	}
	for _, line := range capLines {
		if f := strings.Fields(line); len(f) != 2 || f[1] != initBnd {
			t.Errorf("joined process %q, want every set = PID 1's bounding set %s", line, initBnd)
		}
	}

	checkResidentMonitor(t, inst.Pid)

	// A second start with the same name fails.
	mustFail(t, apptainer(t, "instance", "start", env.Busybox, name), "instance "+name+" already exists")

	// Stop: gone, instance file removed, logs kept.
	mustSucceed(t, apptainer(t, "instance", "stop", name), "instance stop")
	if len(listInstances(t, name)) != 0 {
		t.Error("instance still listed after stop")
	}
	if _, err := os.Stat(instanceFile(name)); !os.IsNotExist(err) {
		t.Errorf("instance file left after stop: %v", err)
	}
	if _, err := os.Stat(inst.LogErrPath); err != nil {
		t.Errorf("error log not kept: %v", err)
	}
	if syscall.Kill(inst.Pid, 0) == nil {
		t.Errorf("instance PID %d still alive", inst.Pid)
	}
	mustFail(t, apptainer(t, "instance", "stop", name), "no instance found")
}

func TestInstanceGhost(t *testing.T) {
	const name = "ghost1"
	stopOnCleanup(t, name)
	mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, name), "instance start")
	inst := getInstance(t, name)
	ppid := monitorPID(t, name)
	if err := syscall.Kill(ppid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitGone(name, 5*time.Second) {
		t.Fatal("monitor still running after SIGKILL")
	}
	// The container dies with its monitor.
	waitFor(t, 5*time.Second, fmt.Sprintf("instance PID %d to die with its monitor", inst.Pid), func() (bool, string) {
		err := syscall.Kill(inst.Pid, 0)
		return errors.Is(err, syscall.ESRCH), fmt.Sprintf("kill -0: %v", err)
	})
	if len(listInstances(t, name)) != 0 {
		t.Error("ghost still listed")
	}
	if _, err := os.Stat(instanceFile(name)); !os.IsNotExist(err) {
		t.Errorf("ghost's instance file not removed: %v", err)
	}
	mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, name), "restart after the ghost")
	mustSucceed(t, apptainer(t, "instance", "stop", name), "stop")
}

// Instance names are per configuration directory, the runtime directory
// and cgroup per user and name: root with a second HOME may not take the
// name of a running instance, and trying must leave that instance whole.
func TestInstanceSameNameTwoStores(t *testing.T) {
	const name = "twin1"
	stopOnCleanup(t, name)
	mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, name), "instance start")
	inst := getInstance(t, name)
	runDir := filepath.Join("/run/apptainer/instances/root", name)
	before, err := os.ReadFile(filepath.Join(runDir, "monitor"))
	if err != nil {
		t.Fatalf("runtime directory not claimed: %v", err)
	}

	otherHome := []string{"HOME=" + t.TempDir()}
	r := apptainerEnv(t, otherHome, "instance", "start", env.Busybox, name)
	if r.Code == 0 || !strings.Contains(r.Stderr, "instance "+name+" already exists: started from another configuration directory") {
		t.Errorf("start of the same name from another HOME:\n%s", r)
	}
	if out := apptainerEnv(t, otherHome, "instance", "list", "--json").Stdout; strings.Contains(out, name) {
		t.Errorf("the refused start left an instance in the other HOME:\n%s", out)
	}
	after, err := os.ReadFile(filepath.Join(runDir, "monitor"))
	if err != nil || string(after) != string(before) {
		t.Errorf("the running instance's runtime directory was touched: %q, was %q (%v)", after, before, err)
	}
	mustSucceed(t, apptainer(t, "exec", "instance://"+name, "true"), "exec in the running instance")
	if got := getInstance(t, name); got.Pid != inst.Pid {
		t.Errorf("instance PID %d, was %d", got.Pid, inst.Pid)
	}
	mustSucceed(t, apptainer(t, "instance", "stop", name), "instance stop")
}

// One instance file that cannot be parsed (a disk error, a crash, a hand
// edit) is named with what to do about it, and keeps neither list nor
// stop --all from the other instances. Nothing deletes it.
func TestDamagedInstanceFile(t *testing.T) {
	const good, damaged = "intact1", "damaged1"
	stopOnCleanup(t, good)
	mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, good), "instance start")
	bad := instanceFile(damaged)
	if err := os.MkdirAll(filepath.Dir(bad), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(bad)) })
	if err := os.WriteFile(bad, []byte(`{"pid": 12`), 0o644); err != nil {
		t.Fatal(err)
	}
	hint := fmt.Sprintf("failed to parse instance file %q", bad)
	remove := "remove " + filepath.Dir(bad)

	r := apptainer(t, "instance", "list", "--json")
	if r.Code == 0 || !strings.Contains(r.Stderr, hint) || !strings.Contains(r.Stderr, remove) {
		t.Errorf("list with a damaged file: want a failure naming it and what to do:\n%s", r)
	}
	var listed struct{ Instances []listEntry }
	if err := json.Unmarshal([]byte(r.Stdout), &listed); err != nil || len(listed.Instances) != 1 || listed.Instances[0].Instance != good {
		t.Errorf("list --json did not list the intact instance (%v):\n%s", err, r.Stdout)
	}
	mustFail(t, apptainer(t, "instance", "stop", damaged), hint)

	r = apptainer(t, "instance", "stop", "--all")
	if r.Code == 0 || !strings.Contains(r.Stderr, hint) {
		t.Errorf("stop --all with a damaged file: want a failure naming it:\n%s", r)
	}
	if !waitGone(good, 10*time.Second) {
		t.Errorf("stop --all left the intact instance running:\n%s", r)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("the damaged file was removed: %v", err)
	}
}

func TestInstanceNames(t *testing.T) {
	for _, bad := range []string{"bad/name", "spa ce", "..", "ünï"} {
		mustFail(t, apptainer(t, "instance", "start", env.Busybox, bad), "is not a valid instance name")
	}
	mustFail(t, apptainer(t, "instance", "stop"), "invalid command")
	mustFail(t, apptainer(t, "instance", "list", "--json", "--logs"), "more than one flags have been set")
}

func TestInstanceListFormats(t *testing.T) {
	const name = "fmt1"
	stopOnCleanup(t, name)
	mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, name), "instance start")
	r := apptainer(t, "instance", "list")
	mustSucceed(t, r, "instance list")
	if !strings.HasPrefix(r.Stdout, "INSTANCE NAME") || !strings.Contains(r.Stdout, name) {
		t.Errorf("table:\n%s", r.Stdout)
	}
	r = apptainer(t, "instance", "list", "--logs")
	mustSucceed(t, r, "instance list --logs")
	if !strings.Contains(r.Stdout, name+".err") || !strings.Contains(r.Stdout, name+".out") {
		t.Errorf("logs table:\n%s", r.Stdout)
	}
	mustSucceed(t, apptainer(t, "instance", "stop", "--all"), "instance stop --all")
}

// monitorPID finds the monitor process of an instance.
func monitorPID(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(instanceFile(name))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		PPid int `json:"ppid"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.PPid
}

// statusField returns a field of /proc/PID/status.
func statusField(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

// checkResidentMonitor asserts that the monitor of the instance whose PID 1
// is pid runs from the static engine binary next to the CLI and, once the
// instance is up, has re-executed itself as the resident monitor (its
// environment names that stage) while staying PID 1's parent.
func checkResidentMonitor(t *testing.T, pid int) {
	t.Helper()
	monitor := statusField(t, pid, "PPid")
	exe, err := os.Readlink("/proc/" + monitor + "/exe")
	if want := filepath.Join(filepath.Dir(env.Bin), "apptainer-engine"); err != nil || exe != want {
		t.Errorf("monitor (pid %s) runs %q (%v), want %s", monitor, exe, err, want)
	}
	// The monitor re-executes itself after instance start has returned:
	// wait for it (mid-exec its environment reads empty).
	waitFor(t, 30*time.Second, "the monitor (pid "+monitor+") to re-execute as the resident monitor", func() (bool, string) {
		environ, err := os.ReadFile("/proc/" + monitor + "/environ")
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(strings.Split(string(environ), "\x00"), "_APPTAINER_STAGE=monitor-resident"), strings.ReplaceAll(string(environ), "\x00", "\n")
	})
}
