//go:build e2e

package e2e

// The checks around the whole suite, run by TestMain before and after the
// tests (whichever -run selects, in whatever order): the real machine must
// be as the suite found it (machineState, reliability_test.go), and
// nothing of ours may be left: no mount, loop device, monitor or container
// process, instance file, runtime directory, cgroup, user namespace id
// range or named network namespace.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// suiteBaseline is what the after check compares with.
type suiteBaseline struct {
	machine *machineState
	// leftovers are items of ours already there before the tests (left
	// by an earlier run that crashed, or by a user of the machine): they
	// are reported, and only what the tests add counts as a leak.
	leftovers []string
}

// takeSuiteBaseline records the machine and what of ours is already there.
func takeSuiteBaseline() (*suiteBaseline, error) {
	s, err := takeMachineState()
	if err != nil {
		return nil, err
	}
	if len(s.Sysctls) < 50 || len(s.Cgroups) == 0 || s.Net == nil || len(s.Net.Links) == 0 {
		return nil, fmt.Errorf("implausible machine baseline: %d sysctls, %d cgroups, network %+v", len(s.Sysctls), len(s.Cgroups), s.Net)
	}
	left, err := leftovers()
	if err != nil {
		return nil, err
	}
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: WARNING: already on the machine before the tests (not counted as leaks of this run; clean them up):\n  %s\n",
			strings.Join(left, "\n  "))
	}
	return &suiteBaseline{machine: s, leftovers: left}, nil
}

// checkSuiteAfter describes every leak and every change of the machine
// since the baseline; none means the suite left the machine as it found
// it. A monitor the last test's cleanup stopped may still be exiting:
// leaks get a few seconds to go away.
func checkSuiteAfter(b *suiteBaseline) []string {
	var problems []string
	var added []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		now, err := leftovers()
		if err != nil {
			return []string{"cannot list what the tests left: " + err.Error()}
		}
		if added = subtract(now, b.leftovers); len(added) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // poll interval: teardown has no event to wait on
	}
	for _, l := range added {
		problems = append(problems, "left behind: "+l)
	}
	after, err := takeMachineState()
	if err != nil {
		return append(problems, "cannot record the machine after the tests: "+err.Error())
	}
	for _, d := range compareMachine(b.machine, after) {
		problems = append(problems, "the machine changed: "+d)
	}
	return problems
}

// subtract returns the items of now that are not in was.
func subtract(now, was []string) []string {
	old := map[string]bool{}
	for _, w := range was {
		old[w] = true
	}
	var out []string
	for _, n := range now {
		if !old[n] {
			out = append(out, n)
		}
	}
	return out
}

// leftoverCommands are the command-line prefixes of our processes: an
// instance's monitor, its container stage before it execs, and the init
// of a booted image.
var leftoverCommands = []string{"Apptainer instance", "apptainer-container", "/sbin/init"}

// leftovers lists everything of ours on the machine now, one line per
// item, sorted. An error means something could not be looked at, which
// must not pass for "nothing there".
func leftovers() ([]string, error) {
	var out []string
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if strings.Contains(line, env.Top) || strings.Contains(line, "/run/apptainer") || strings.Contains(line, "apptainer/mnt/session") {
			out = append(out, "mount "+f[4]+" (root "+f[3]+")")
		}
	}
	loops, err := exec.Command("losetup", "-a").Output()
	if err != nil {
		return nil, fmt.Errorf("losetup -a: %w", err)
	}
	for _, l := range lines(string(loops)) {
		out = append(out, "loop device "+l)
	}
	procs, err := ourProcesses()
	if err != nil {
		return nil, err
	}
	out = append(out, procs...)
	// Instance files: every instance directory under the test HOME's
	// instances/app/<host>/<user>/ (logs are kept by design).
	users, _ := filepath.Glob(filepath.Join(env.Home, ".apptainer", "instances", "app", "*", "*"))
	for _, u := range users {
		names, err := entries(u)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			out = append(out, "instance directory "+filepath.Join(u, n))
		}
	}
	runUsers, _ := filepath.Glob("/run/apptainer/instances/*")
	for _, u := range runUsers {
		names, err := entries(u)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			out = append(out, "runtime directory "+filepath.Join(u, n))
		}
	}
	slots, err := entries("/run/apptainer/userns")
	if err != nil {
		return nil, err
	}
	for _, s := range slots {
		if s != ".lock" {
			out = append(out, "user namespace id slot /run/apptainer/userns/"+s)
		}
	}
	roots, err := cgroupRoots()
	if err != nil {
		return nil, err
	}
	for _, root := range roots {
		if _, err := os.Lstat(root); os.IsNotExist(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, "cgroup "+root)
		subs, err := entries(root)
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			if fi, err := os.Stat(filepath.Join(root, s)); err == nil && fi.IsDir() {
				out = append(out, "cgroup "+filepath.Join(root, s))
			}
		}
	}
	netns, err := entries("/run/netns")
	if err != nil {
		return nil, err
	}
	for _, n := range netns {
		out = append(out, "network namespace /run/netns/"+n)
	}
	sort.Strings(out)
	return out, nil
}

// entries lists the names in dir; a directory that does not exist is
// empty, any other error is returned.
func entries(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// ourProcesses lists the processes with one of leftoverCommands' command
// lines, or in an instance's cgroup (apptainer/root.NAME in every
// hierarchy layout), as "process PID: command line".
func ourProcesses() ([]string, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, or a kernel thread
		}
		cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		ours := false
		for _, p := range leftoverCommands {
			ours = ours || strings.HasPrefix(cmd, p)
		}
		if cg, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup")); err == nil && strings.Contains(string(cg), ":/apptainer/root.") {
			ours = true
		}
		if ours {
			out = append(out, fmt.Sprintf("process %s: %s", e.Name(), cmd))
		}
	}
	return out, nil
}

// TestLeftoversSeen is the leak check's positive control: a planted item
// of each kind the check looks for is listed, and is gone again before
// TestMain's check after the tests.
func TestLeftoversSeen(t *testing.T) {
	const probe = "leakprobe"
	var want []string
	// A process named like a monitor.
	cmd := exec.Command("sleep", "600")
	cmd.Args[0] = "Apptainer instance: root [" + probe + "]"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	want = append(want, fmt.Sprintf("process %d: Apptainer instance: root [%s] 600", cmd.Process.Pid, probe))
	// A mount under the suite's scratch directory.
	mnt := filepath.Join(env.Top, probe)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(mnt) })
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	want = append(want, "mount "+mnt+" (root /)")
	// A loop device.
	img := filepath.Join(t.TempDir(), probe+".img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	dev, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	loop := strings.TrimSpace(string(dev))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", loop).Run() })
	want = append(want, "loop device "+loop+":")
	// An instance directory, a runtime directory, an id slot.
	for _, d := range []struct{ path, item string }{
		{filepath.Dir(instanceFile(probe)), "instance directory "},
		{filepath.Join("/run/apptainer/instances/root", probe), "runtime directory "},
	} {
		if err := os.MkdirAll(d.path, 0o700); err != nil {
			t.Fatal(err)
		}
		p := d.path
		t.Cleanup(func() { _ = os.RemoveAll(p) })
		want = append(want, d.item+d.path)
	}
	if err := os.MkdirAll("/run/apptainer/userns", 0o700); err != nil {
		t.Fatal(err)
	}
	slot := "/run/apptainer/userns/" + probe
	if err := os.WriteFile(slot, []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(slot) })
	want = append(want, "user namespace id slot "+slot)
	// An instance cgroup, where the runtime makes them: the cgroup2 tree
	// (pure, or the unified one of a hybrid layout).
	cgTop := "/sys/fs/cgroup"
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err == nil {
		cgTop = "/sys/fs/cgroup/unified"
	}
	parent := filepath.Join(cgTop, "apptainer")
	_, statErr := os.Stat(parent)
	cg := filepath.Join(parent, "root."+probe)
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.Remove(cg)
		if os.IsNotExist(statErr) {
			_ = os.Remove(parent)
		}
	})
	want = append(want, "cgroup "+parent+"\n", "cgroup "+cg)

	got, err := leftovers()
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(got, "\n") + "\n"
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("the leak check does not list %q; it lists:\n%s", w, all)
		}
	}
}

// TestCompareMachineSeesChanges is the machine check's positive control:
// each kind of change between two records is reported.
func TestCompareMachineSeesChanges(t *testing.T) {
	before, err := takeMachineState()
	if err != nil {
		t.Fatal(err)
	}
	if d := compareMachine(before, before); len(d) != 0 {
		t.Fatalf("a record compared with itself differs: %v", d)
	}
	after := *before
	after.Sysctls = map[string]string{}
	for k, v := range before.Sysctls {
		after.Sysctls[k] = v
	}
	after.Sysctls["kernel.core_pattern"] = "|/changed"
	after.Cgroups = append(append([]string{}, before.Cgroups...), "/sys/fs/cgroup/pids/apptainer")
	after.Hostname = before.Hostname + "-changed"
	d := strings.Join(compareMachine(before, &after), "\n")
	for _, want := range []string{"sysctl kernel.core_pattern changed", "/sys/fs/cgroup/pids/apptainer", "hostname changed"} {
		if !strings.Contains(d, want) {
			t.Errorf("the machine check does not report %q:\n%s", want, d)
		}
	}
}
