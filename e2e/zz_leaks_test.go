//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestZZNoLeftovers runs last (go test orders tests by source file and
// name) and asserts the suite left nothing of ours: no mount, loop device,
// instance or init process, instance file, cgroup or runtime directory.
func TestZZNoLeftovers(t *testing.T) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, env.Top) || strings.Contains(line, "/run/apptainer") || strings.Contains(line, "apptainer/mnt/session") {
			t.Errorf("mount left behind: %s", line)
		}
	}
	if out, _ := exec.Command("losetup", "-a").Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("loop devices left:\n%s", out)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := string(b)
		if strings.HasPrefix(cmd, "Apptainer instance") || strings.HasPrefix(cmd, "/sbin/init") || strings.HasPrefix(cmd, "apptainer-container") {
			t.Errorf("process left: %s %q", e.Name(), strings.ReplaceAll(cmd, "\x00", " "))
		}
	}
	host, _ := os.Hostname()
	if ents, err := os.ReadDir(filepath.Join(env.Home, ".apptainer", "instances", "app", host, "root")); err == nil && len(ents) > 0 {
		t.Errorf("instance files left: %v", ents)
	}
	for _, cg := range []string{"/sys/fs/cgroup/apptainer", "/sys/fs/cgroup/unified/apptainer"} {
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("cgroup %s left behind", cg)
		}
	}
	if ents, err := os.ReadDir("/run/apptainer/instances/root"); err == nil && len(ents) > 0 {
		t.Errorf("instance runtime directories left: %v", ents)
	}
}
