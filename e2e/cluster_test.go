//go:build e2e

package e2e

// The Slurm cluster demo (scripts/cluster-demo.sh, make cluster-demo): three
// fake nodes whose munged, slurmctld and slurmd run in --boot-hostnet
// instances of examples/slurm/slurm.def. make e2e builds the image before
// the tests (scripts/e2e-example.sh, cached by the definition's hash): the
// tests' own network namespace has no mirror.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// clusterPrefix names the demo's namespaces in these tests, apart from a
// demo someone runs by hand (slurmdemo).
const clusterPrefix = "e2eslurm"

// clusterInstances are the instance names the demo uses.
var clusterInstances = []string{"head", "node1", "node2"}

func slurmSIF(t *testing.T) string {
	t.Helper()
	sif := os.Getenv("APPTAINER_E2E_SLURM_SIF")
	if sif == "" {
		t.Skip("APPTAINER_E2E_SLURM_SIF is not set (make e2e builds it with scripts/e2e-example.sh BINARY examples/slurm/slurm.def)")
	}
	return sif
}

// lockedBuffer collects a running command's output for a test that reads
// it while the command still writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clusterDemo is scripts/cluster-demo.sh ARGS with the test build's binary
// and HOME, ready to start.
func clusterDemo(t *testing.T, sif string, out *lockedBuffer, args ...string) *exec.Cmd {
	t.Helper()
	script, err := filepath.Abs("../scripts/cluster-demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, args...)
	cmd.Env = []string{
		"HOME=" + env.Home, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
		"APPTAINER=" + env.Bin, "CLUSTER_DEMO_IMAGE=" + sif, "CLUSTER_DEMO_PREFIX=" + clusterPrefix,
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Whatever the test did, nothing of the cluster outlives it: down
	// stops only the instances the script recorded as its own.
	t.Cleanup(func() {
		if clusterTraces(t, sif) == "" {
			return
		}
		down := exec.Command(script, "down")
		down.Env = cmd.Env
		b, err := down.CombinedOutput()
		t.Errorf("the cluster was still there at the end of the test; cluster-demo.sh down: %v\n%s", err, b)
	})
	return cmd
}

// clusterTraces lists what of the demo cluster is on the machine: its
// network namespaces, its state directory, monitors and runtime
// directories of its instances, and loop devices of its image. Empty means
// nothing is left.
func clusterTraces(t *testing.T, sif string) string {
	t.Helper()
	all, err := leftovers()
	if err != nil {
		t.Fatalf("cannot list what is on the machine: %v", err)
	}
	var ours []string
	for _, l := range all {
		mine := strings.Contains(l, "/run/netns/"+clusterPrefix+"-") || strings.Contains(l, sif)
		for _, name := range clusterInstances {
			mine = mine || strings.HasSuffix(l, "/"+name) || strings.Contains(l, "Apptainer instance: root ["+name+"]")
		}
		if mine {
			ours = append(ours, l)
		}
	}
	if _, err := os.Lstat("/run/apptainer-cluster-demo/" + clusterPrefix); err == nil {
		ours = append(ours, "state directory /run/apptainer-cluster-demo/"+clusterPrefix)
	}
	return strings.Join(ours, "\n")
}

// waitClusterGone waits until clusterTraces finds nothing (a stopped
// monitor may take a moment to exit).
func waitClusterGone(t *testing.T, sif, when string) {
	t.Helper()
	waitFor(t, 30*time.Second, "nothing of the cluster left "+when, func() (bool, string) {
		left := clusterTraces(t, sif)
		return left == "", left
	})
}

// section returns the lines the script printed between "--- NAME" and
// "--- end NAME", the n-th time (from 0).
func section(out, name string, n int) []string {
	re := regexp.MustCompile(`(?s)--- ` + name + `\n(.*?)--- end ` + name + `\n`)
	all := re.FindAllStringSubmatch(out, -1)
	if n >= len(all) {
		return nil
	}
	return strings.Split(strings.TrimRight(all[n][1], "\n"), "\n")
}

// sinfoStates maps each node list of a default sinfo table (PARTITION
// AVAIL TIMELIMIT NODES STATE NODELIST) to its state.
func sinfoStates(table []string) map[string]string {
	states := map[string]string{}
	for _, l := range table {
		f := strings.Fields(l)
		if len(f) == 6 && f[0] != "PARTITION" {
			states[f[5]] = f[4]
		}
	}
	return states
}

// TestClusterDemo runs make cluster-demo's script: srun -N2 hostname from
// the head node runs on node1 and node2, sinfo shows both idle, stopping
// node2's instance drains it, and nothing is left afterwards.
func TestClusterDemo(t *testing.T) {
	sif := slurmSIF(t)
	if left := clusterTraces(t, sif); left != "" {
		t.Fatalf("a demo cluster is already there:\n%s", left)
	}
	var out lockedBuffer
	start := time.Now()
	err := clusterDemo(t, sif, &out, "run").Run()
	t.Logf("cluster-demo.sh run took %s", time.Since(start).Round(100*time.Millisecond))
	text := out.String()
	if err != nil {
		t.Fatalf("cluster-demo.sh run: %v\n%s", err, text)
	}

	srun := section(text, "srun", 0)
	slices.Sort(srun)
	if !slices.Equal(srun, []string{"node1", "node2"}) {
		t.Errorf("srun -N2 hostname printed %q, want node1 and node2 once each:\n%s", srun, text)
	}
	if got := sinfoStates(section(text, "sinfo", 0)); got["node[1-2]"] != "idle" {
		t.Errorf("sinfo once the nodes registered: %v, want node[1-2] idle:\n%s", got, text)
	}
	after := sinfoStates(section(text, "sinfo", 1))
	if !regexp.MustCompile(`^(drain|drng|down)\*?$`).MatchString(after["node2"]) || after["node1"] != "idle" {
		t.Errorf("sinfo after node2's instance stopped: %v, want node2 drained or down and node1 idle:\n%s", after, text)
	}
	if !strings.Contains(text, "slurmd stopped on node2") {
		t.Errorf("the drain reason of node2 is not the one its slurmd gave on the way down:\n%s", text)
	}
	// The fake nodes' networks, with their eth0 and ib0, are what
	// --boot-hostnet shares: the guard must have found them unchanged.
	for _, name := range clusterInstances {
		if !strings.Contains(text, name+" runs in a user namespace") {
			t.Errorf("%s did not run in a user namespace:\n%s", name, text)
		}
	}
	if strings.Contains(text, "the host network changed") || strings.Count(text, "host-network guard: host network unchanged\n") != 3 {
		t.Errorf("the guard did not find every node's network unchanged:\n%s", text)
	}
	waitClusterGone(t, sif, "after cluster-demo.sh run")
}

// TestClusterDemoInterrupted stops the demo half-way with SIGTERM, as a
// failing step or Ctrl-C would: its trap removes the cluster. While it is
// frozen, the head node is checked from inside, and the leak check must see
// the cluster (its positive control).
func TestClusterDemoInterrupted(t *testing.T) {
	sif := slurmSIF(t)
	if left := clusterTraces(t, sif); left != "" {
		t.Fatalf("a demo cluster is already there:\n%s", left)
	}
	var out lockedBuffer
	cmd := clusterDemo(t, sif, &out, "run")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "the demo to boot the head node", func() (bool, string) {
		s := out.String()
		return strings.Contains(s, "Booting node1"), s
	})
	// Freeze the script (its running child goes on): whatever it does
	// next, the head node is up and stays so until the test lets go.
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	continued := false
	defer func() {
		if !continued {
			_ = cmd.Process.Signal(syscall.SIGCONT)
		}
	}()

	left := clusterTraces(t, sif)
	for _, want := range []string{"/run/netns/" + clusterPrefix + "-head", "/run/netns/" + clusterPrefix + "-lan", "Apptainer instance: root [head]", "loop device", "state directory"} {
		if !strings.Contains(left, want) {
			t.Errorf("with the cluster up the leak check does not see %q:\n%s", want, left)
		}
	}
	checkHeadNode(t)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	continued = true
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Errorf("the interrupted demo ended with %v, want exit status 130:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Removing the cluster") {
		t.Errorf("the demo's trap did not remove the cluster:\n%s", out.String())
	}
	waitClusterGone(t, sif, "after the interrupted demo")
}

// checkHeadNode looks at the head node from inside its instance: its
// fake node's eth0 and ib0 with their addresses and IPoIB's MTU, the
// generated /etc/hosts, and the munge key as munged needs it (the munge
// user's, mode 0400) although the host file is the host's.
func checkHeadNode(t *testing.T) {
	t.Helper()
	inHead := func(args ...string) string {
		r := apptainer(t, append([]string{"exec", "instance://head"}, args...)...)
		mustSucceed(t, r, "exec in head: "+strings.Join(args, " "))
		return r.Stdout
	}
	if got := inHead("ip", "-o", "-4", "addr", "show", "dev", "eth0"); !strings.Contains(got, "inet 10.210.0.10/24") {
		t.Errorf("head's eth0: %q, want 10.210.0.10/24", got)
	}
	if got := inHead("ip", "-o", "link", "show", "dev", "ib0"); !strings.Contains(got, "mtu 2044") {
		t.Errorf("head's ib0: %q, want mtu 2044", got)
	}
	if got := inHead("ip", "-o", "-4", "addr", "show", "dev", "ib0"); !strings.Contains(got, "inet 10.211.0.10/24") {
		t.Errorf("head's ib0: %q, want 10.211.0.10/24", got)
	}
	if got := inHead("getent", "hosts", "node2"); !strings.HasPrefix(got, "10.210.0.12 ") {
		t.Errorf("node2 resolves to %q on head, want 10.210.0.12", got)
	}
	if got := strings.TrimSpace(inHead("stat", "-c", "%U %a", "/etc/munge/munge.key")); got != "munge 400" {
		t.Errorf("the munge key inside is %q, want owner munge and mode 400", got)
	}
	// The bind is read-only, for root inside too.
	r := apptainer(t, "exec", "instance://head", "sh", "-c", "echo x >>/etc/munge/munge.key")
	if r.Code == 0 {
		t.Errorf("root in head could write the munge key:\n%s", r)
	}
	if got := inHead("sh", "-c", "munge -n | unmunge"); !strings.Contains(got, "STATUS:          Success (0)") {
		t.Errorf("munge round trip in head:\n%s", got)
	}
}

// TestClusterDemoTakenName: an instance called node1 that the demo did not
// start makes the demo refuse, and the demo's cleanup leaves that instance
// alone: it stops only what it started.
func TestClusterDemoTakenName(t *testing.T) {
	sif := slurmSIF(t)
	stopOnCleanup(t, "node1")
	mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, "node1"), "instance start node1 (someone else's)")
	if pid, err := findMonitor("node1"); err != nil || pid == 0 {
		t.Fatalf("node1 is not running before the demo (%d, %v)", pid, err)
	}
	var out lockedBuffer
	err := clusterDemo(t, sif, &out, "run").Run()
	if err == nil || !strings.Contains(out.String(), "an instance named node1 already runs") {
		t.Fatalf("the demo with node1 taken: %v, want a refusal naming node1:\n%s", err, out.String())
	}
	if pid, err := findMonitor("node1"); err != nil || pid == 0 {
		t.Errorf("the demo's cleanup stopped an instance it did not start:\n%s", out.String())
	}
	if r := apptainer(t, "instance", "list", "head"); strings.Contains(r.Stdout, "head") {
		t.Errorf("the head node the demo started is still there:\n%s", r)
	}
	if _, err := os.Lstat("/run/netns/" + clusterPrefix + "-lan"); err == nil {
		t.Errorf("the demo's namespaces are still there:\n%s", out.String())
	}
	// Its own check found nothing of its own left, at once: node1 is not
	// its own.
	if !strings.Contains(out.String(), "nothing left") {
		t.Errorf("the demo did not find itself clean:\n%s", out.String())
	}
	mustSucceed(t, apptainer(t, "instance", "stop", "node1"), "stop node1")
	if !waitGone("node1", 30*time.Second) {
		t.Error("node1 still runs 30 s after instance stop")
	}
}

// TestClusterDemoHostileImage: the demo asks the image for its munge user
// (apptainer exec IMAGE id -u munge). An image whose shell answers with
// terminal escapes is refused with a clear error that does not print them,
// and nothing of the half-made cluster is left.
func TestClusterDemoHostileImage(t *testing.T) {
	img := filepath.Join(t.TempDir(), "hostile")
	if out, err := exec.Command("cp", "-a", env.Busybox, img).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	// The image's /bin/sh runs every exec: it answers with a title
	// change, a screen clear, and a line that passes for success.
	sh := filepath.Join(img, "bin", "sh")
	if err := os.Remove(sh); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, sh, []byte("#!/bin/busybox sh\nprintf '\\033]0;pwned\\007\\033[2J\\rnothing left: 101\\n'\n"))
	if err := os.Chmod(sh, 0o755); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	err := clusterDemo(t, img, &out, "run").Run()
	text := out.String()
	if err == nil || !strings.Contains(text, "the image's munge user is missing or not an unprivileged user inside") {
		t.Fatalf("the demo on an image with a hostile id: %v, want a refusal:\n%q", err, text)
	}
	if strings.ContainsAny(text, "\x1b\x07") {
		t.Errorf("the demo printed the image's escapes:\n%q", text)
	}
	waitClusterGone(t, img, "after the refused image")
}

// TestClusterDemoUpDown: up leaves the cluster running; a second demo is
// refused without touching it; down removes it.
func TestClusterDemoUpDown(t *testing.T) {
	sif := slurmSIF(t)
	var up, again, down lockedBuffer
	if err := clusterDemo(t, sif, &up, "up").Run(); err != nil {
		t.Fatalf("cluster-demo.sh up: %v\n%s", err, up.String())
	}
	err := clusterDemo(t, sif, &again, "run").Run()
	if err == nil || !strings.Contains(again.String(), "a cluster "+clusterPrefix+" is already there") {
		t.Errorf("a second demo over a running one: %v, want a refusal:\n%s", err, again.String())
	}
	r := apptainer(t, "exec", "instance://head", "sinfo", "-h", "-N", "-o", "%N %t")
	mustSucceed(t, r, "sinfo after the refused demo")
	if got := lines(r.Stdout); !slices.Equal(got, []string{"node1 idle", "node2 idle"}) {
		t.Errorf("after the refused demo sinfo says %q, want node1 and node2 idle", got)
	}
	if err := clusterDemo(t, sif, &down, "down").Run(); err != nil || !strings.Contains(down.String(), "nothing left") {
		t.Errorf("cluster-demo.sh down: %v\n%s", err, down.String())
	}
	waitClusterGone(t, sif, "after down")
}
