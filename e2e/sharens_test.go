//go:build e2e

package e2e

// --sharens (issue 18, item 5): the containers one parent process starts
// share a hidden instance; the last one out stops it, and the parent's
// exit stops it at the latest.

import (
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
)

// sharedName is the instance of the --sharens containers this test
// process starts: named after their parent, the test binary.
func sharedName() string { return fmt.Sprintf("sharens_instance_%d", os.Getpid()) }

// barrierScript appends what the container sees to /canary and waits
// until n containers have: they can only get there together if they run
// at the same time.
func barrierScript(n int) string {
	return fmt.Sprintf(`echo "$(readlink /proc/self/ns/pid) $(cat /proc/1/comm)" >> /canary; i=0; while [ "$(wc -l < /canary)" -lt %d ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`, n)
}

// runConcurrently runs n `exec` of the busybox image with the canary file
// bound, flags first, and returns their results.
func runConcurrently(t *testing.T, n int, canary string, flags ...string) []result {
	t.Helper()
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"exec"}, flags...)
			args = append(args, "--bind", canary+":/canary", env.Busybox, "sh", "-c", barrierScript(n))
			results[i] = apptainer(t, args...)
		}()
	}
	wg.Wait()
	return results
}

// canaryLines reads the canary file's lines.
func canaryLines(t *testing.T, canary string) []string {
	t.Helper()
	b, err := os.ReadFile(canary)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// assertNoSharedInstance checks that nothing of name is left: no
// instance, hidden or not, and no lock file.
func assertNoSharedInstance(t *testing.T, name string) {
	t.Helper()
	if !waitGone(name, 30*time.Second) {
		t.Errorf("the shared instance %s still runs", name)
	}
	if r := apptainer(t, "instance", "list", "--all", name); strings.Contains(r.Stdout, name) {
		t.Errorf("instance list --all still shows %s:\n%s", name, r)
	}
	lock := filepath.Join("/run/apptainer/sharens/0", name+".lock")
	if _, err := os.Lstat(lock); err == nil {
		t.Errorf("the lock file %s is left", lock)
	}
}

func TestShareNS(t *testing.T) {
	name := sharedName()
	stopOnCleanup(t, name)
	const n = 3
	t.Run("shared", func(t *testing.T) {
		canary := filepath.Join(t.TempDir(), "canary")
		if err := os.WriteFile(canary, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for i, r := range runConcurrently(t, n, canary, "--sharens") {
			mustSucceed(t, r, fmt.Sprintf("exec --sharens #%d", i))
		}
		lines := canaryLines(t, canary)
		if len(lines) != n {
			t.Fatalf("%d containers wrote %q, want %d lines", n, lines, n)
		}
		host := readNS(t, "/proc/self/ns/pid")
		for _, l := range lines {
			if l != lines[0] || strings.HasPrefix(l, host+" ") || !strings.HasSuffix(l, " appinit") {
				t.Errorf("containers saw %q: want one PID namespace, not the host's (%s), whose PID 1 is the shared instance's appinit", lines, host)
				break
			}
		}
		assertNoSharedInstance(t, name)
	})
	t.Run("positive-control", func(t *testing.T) {
		// Without --sharens, each container has a PID namespace of its
		// own (--pid), so the check above can tell.
		canary := filepath.Join(t.TempDir(), "canary")
		if err := os.WriteFile(canary, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for i, r := range runConcurrently(t, n, canary, "--pid") {
			mustSucceed(t, r, fmt.Sprintf("exec --pid #%d", i))
		}
		seen := map[string]bool{}
		for _, l := range canaryLines(t, canary) {
			seen[strings.Fields(l)[0]] = true
		}
		if len(seen) != n {
			t.Errorf("separate containers shared PID namespaces: %v", seen)
		}
	})
	t.Run("exit-status", func(t *testing.T) {
		r := apptainer(t, "exec", "--sharens", env.Busybox, "sh", "-c", "exit 7")
		if r.Code != 7 {
			t.Errorf("exit status %d, want the command's 7:\n%s", r.Code, r)
		}
		assertNoSharedInstance(t, name)
	})
	t.Run("refusals", func(t *testing.T) {
		mustFail(t, apptainer(t, "exec", "--sharens", "instance://x", "true"), "--sharens cannot be used with an instance:// image")
		mustFail(t, apptainer(t, "exec", "--sharens", env.Busybox), "")
		assertNoSharedInstance(t, name)
	})
}

// TestShareNSParentExit: a --sharens container killed before it could stop
// the shared instance leaves it running, hidden from instance list; the
// exit of the parent process stops it.
func TestShareNSParentExit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "cli.pid")
	// The parent: a shell that starts one container, waits for it, and
	// lives on until it is killed.
	parent := exec.Command("sh", "-c", `"$0" exec --sharens "$1" sleep 1000 & echo $! > "$2"; wait; exec sleep 1000`, env.Bin, env.Busybox, pidFile)
	parent.Env = []string{"HOME=" + env.Home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	parent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("sharens_instance_%d", parent.Process.Pid)
	parentDone := make(chan struct{})
	go func() { _ = parent.Wait(); close(parentDone) }()
	t.Cleanup(func() {
		_ = parent.Process.Kill()
		<-parentDone
	})
	stopOnCleanup(t, name)
	waitFor(t, 60*time.Second, "the shared instance to run", func() (bool, string) {
		l := listAll(t, name)
		return strings.Contains(l, name), l
	})
	if r := apptainer(t, "instance", "list", name); strings.Contains(r.Stdout, name) {
		t.Errorf("instance list without --all shows the --sharens instance:\n%s", r)
	}
	// Kill the container's apptainer process: it cannot stop the
	// instance now.
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(cli, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the killed container's apptainer to be gone", func() (bool, string) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cli))
		return len(b) == 0 || strings.Contains(string(b), ") Z "), string(b)
	})
	// Nobody stopped it: it still runs, until the parent exits.
	if l := listAll(t, name); !strings.Contains(l, name) {
		t.Fatalf("the shared instance is gone before its parent exited:\n%s", l)
	}
	_ = parent.Process.Kill()
	<-parentDone
	if !waitGone(name, 30*time.Second) {
		t.Errorf("the shared instance %s outlived its parent process", name)
	}
}

// listAll is `instance list --all NAME`'s output.
func listAll(t *testing.T, name string) string {
	t.Helper()
	return apptainer(t, "instance", "list", "--all", name).Stdout
}
