//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cgroupDirOf is the directory of pid's cgroup in the v1 hierarchy of
// controller, or in cgroup2 for controller "".
func cgroupDirOf(t *testing.T, pid int, controller string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case controller == "" && parts[0] == "0":
			for _, root := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
				if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
					return filepath.Join(root, parts[2])
				}
			}
		case controller != "" && strings.Contains(","+parts[1]+",", ","+controller+","):
			return filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
		}
	}
	t.Fatalf("pid %d has no %q cgroup:\n%s", pid, controller, b)
	return ""
}

// readLimit reads a cgroup file of the instance: the v1 one on a hybrid
// host, the cgroup2 one (v2name) on a pure cgroup2 host.
func readLimit(t *testing.T, pid int, controller, v1name, v2name string) string {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		b, err := os.ReadFile(filepath.Join(cgroupDirOf(t, pid, ""), v2name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	b, err := os.ReadFile(filepath.Join(cgroupDirOf(t, pid, controller), v1name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestLimitsBootedInstance: --memory and --pids-limit reach the booted
// instance's cgroups and instance stats; the cgroups go with the instance.
func TestLimitsBootedInstance(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	h.stopOnCleanup(t, "lim0")
	h.stopOnCleanup(t, "lim1")

	// Control: without limits, the instance's memory is not capped.
	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", img, "lim0"), "start without limits")
	base := h.apptainer(t, "instance", "stats", "--json", "lim0")
	mustSucceed(t, base, "instance stats --json (no limits)")
	var noLimits struct {
		Pids struct {
			Limit uint64 `json:"limit"`
		} `json:"pids_stats"`
	}
	if err := json.Unmarshal([]byte(base.Stdout), &noLimits); err != nil {
		t.Fatalf("instance stats --json: %v\n%s", err, base.Stdout)
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", "lim0"), "stop lim0")

	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", "--memory", "256M", "--pids-limit", "500", img, "lim1"), "start with limits")
	pid := getInstanceIn(t, h, "lim1").Pid
	if got := readLimit(t, pid, "memory", "memory.limit_in_bytes", "memory.max"); got != "268435456" {
		t.Errorf("memory limit %s, want 268435456", got)
	}
	if got := readLimit(t, pid, "pids", "pids.max", "pids.max"); got != "500" {
		t.Errorf("pids limit %s, want 500", got)
	}
	st := h.apptainer(t, "instance", "stats", "--json", "lim1")
	mustSucceed(t, st, "instance stats --json")
	var stats struct {
		Memory struct {
			Usage struct {
				Usage uint64 `json:"usage"`
				Limit uint64 `json:"limit"`
			} `json:"usage"`
		} `json:"memory_stats"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids_stats"`
	}
	if err := json.Unmarshal([]byte(st.Stdout), &stats); err != nil {
		t.Fatalf("instance stats --json: %v\n%s", err, st.Stdout)
	}
	if stats.Memory.Usage.Limit != 268435456 || stats.Pids.Limit != 500 || stats.Pids.Current == 0 || stats.Memory.Usage.Usage == 0 {
		t.Errorf("instance stats --json: memory %+v, pids %+v", stats.Memory.Usage, stats.Pids)
	}
	if noLimits.Pids.Limit == 500 {
		t.Errorf("control: an instance without --pids-limit shows the limit 500 too")
	}
	table := h.apptainer(t, "instance", "stats", "--no-stream", "lim1")
	mustSucceed(t, table, "instance stats --no-stream")
	if !strings.Contains(table.Stdout, "INSTANCE NAME") || !strings.Contains(table.Stdout, "/ 256MiB") {
		t.Errorf("instance stats --no-stream:\n%s", table.Stdout)
	}
	memDir := ""
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		memDir = cgroupDirOf(t, pid, "memory")
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", "lim1"), "stop")
	if memDir != "" {
		if _, err := os.Stat(memDir); err == nil {
			t.Errorf("the instance's memory cgroup %s is left after the stop", memDir)
		}
	}
}

// TestLimitsFromFile: --apply-cgroups takes upstream's TOML file.
func TestLimitsFromFile(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	h.stopOnCleanup(t, "lim4")
	file := filepath.Join(t.TempDir(), "cgroups.toml")
	if err := os.WriteFile(file, []byte("[pids]\nlimit = 321\n[memory]\nlimit = 402653184\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", "--apply-cgroups", file, img, "lim4"), "start --apply-cgroups")
	pid := getInstanceIn(t, h, "lim4").Pid
	if got := readLimit(t, pid, "pids", "pids.max", "pids.max"); got != "321" {
		t.Errorf("pids limit %s, want 321", got)
	}
	if got := readLimit(t, pid, "memory", "memory.limit_in_bytes", "memory.max"); got != "402653184" {
		t.Errorf("memory limit %s, want 402653184", got)
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", "lim4"), "stop")
}

// TestLimitsRefused: limits outside a booted instance, and a limit the
// host has no controller file for, are clear errors that leave nothing.
func TestLimitsRefused(t *testing.T) {
	mustFail(t, apptainer(t, "exec", "--memory", "1G", env.Busybox, "true"), "resource limits (--memory, --cpus, --pids-limit, ...) need an instance started with --boot")
	stopOnCleanup(t, "lim3")
	mustFail(t, apptainer(t, "instance", "start", "--boot", "--cpus", "zero", env.Busybox, "lim3"), `--cpus "zero": want a positive number of CPUs`)
	if _, err := os.Stat("/sys/fs/cgroup/blkio"); err != nil {
		t.Skip("no cgroup v1 blkio hierarchy: the unapplicable-limit case is for hybrid hosts")
	}
	matches, _ := filepath.Glob("/sys/fs/cgroup/blkio/blkio.*weight")
	if len(matches) > 0 {
		t.Skip("this host can apply --blkio-weight")
	}
	img := bootImage(t)
	h := newFakeHost(t)
	h.stopOnCleanup(t, "lim2")
	r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", "--blkio-weight", "500", img, "lim2")
	if r.Code == 0 {
		t.Fatalf("--blkio-weight on a host without blkio.weight started:\n%s", r)
	}
	if !strings.Contains(r.Stderr, "blkio") {
		t.Errorf("the error does not name the controller:\n%s", r.Stderr)
	}
	if l := h.apptainer(t, "instance", "list", "lim2"); strings.Contains(l.Stdout, "lim2") {
		t.Errorf("a refused instance is listed:\n%s", l)
	}
	for _, d := range []string{"/sys/fs/cgroup/blkio/apptainer/root.lim2", "/sys/fs/cgroup/memory/apptainer/root.lim2", "/sys/fs/cgroup/unified/apptainer/root.lim2"} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s is left behind", d)
		}
	}
}
