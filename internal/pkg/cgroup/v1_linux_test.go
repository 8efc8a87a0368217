package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
)

// TestEnterV1 puts a process into an instance's cgroup in every v1
// hierarchy of a hybrid host and checks /proc/PID/cgroup, then removes
// them.
func TestEnterV1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	name := fmt.Sprintf("v1test%d", os.Getpid())
	paths, err := V1Paths("root", name)
	if err != nil {
		t.Fatal(err)
	}
	if cgroups.IsCgroup2UnifiedMode() {
		if len(paths) != 0 {
			t.Fatalf("v1 paths on a pure cgroup2 host: %v", paths)
		}
		t.Skip("pure cgroup2 host: nothing to enter")
	}
	if len(paths) == 0 {
		t.Fatal("a hybrid host with no v1 hierarchy found")
	}
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for _, p := range paths {
			if err := Remove(p, 5*time.Second); err != nil {
				t.Error(err)
			}
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s left behind", p)
			}
		}
	}()
	if err := EnterV1(paths, cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want := "/apptainer/root." + name
	v1 := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[0] == "0" {
			continue
		}
		v1++
		if f[2] != want {
			t.Errorf("in hierarchy %s the process is in %s, want %s", f[1], f[2], want)
		}
	}
	if v1 != len(paths) {
		t.Errorf("%d v1 hierarchies in /proc/PID/cgroup, %d paths entered", v1, len(paths))
	}
	// What a join of this process writes to: its cgroup2 cgroup, then the
	// instance's cgroup in every v1 hierarchy.
	procs, err := ProcsFiles(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != len(paths)+1 {
		t.Fatalf("ProcsFiles = %v, want the cgroup2 file and %d v1 files", procs, len(paths))
	}
	for _, p := range paths {
		if !slices.Contains(procs[1:], filepath.Join(p, "cgroup.procs")) {
			t.Errorf("ProcsFiles lacks %s: %v", p, procs)
		}
	}
}
