package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPath(t *testing.T) {
	if got := Path("/sys/fs/cgroup/unified", "root", "node1"); got != "/sys/fs/cgroup/unified/apptainer/root.node1" {
		t.Errorf("Path = %s", got)
	}
}

// TestRemoveDeepestFirst uses plain directories: rmdir works on them as on
// cgroups, so the order (children before parents) is what is tested.
func TestRemoveDeepestFirst(t *testing.T) {
	top := t.TempDir()
	inst := filepath.Join(top, parentName, "root.x")
	for _, d := range []string{"init.scope", "system.slice/dbus.service", "system.slice/systemd-journald.service"} {
		if err := os.MkdirAll(filepath.Join(inst, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := Remove(inst, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(top, parentName)); !os.IsNotExist(err) {
		t.Errorf("parent left: %v", err)
	}
	if err := Remove(inst, 0); err != nil {
		t.Errorf("removing twice: %v", err)
	}
}

func TestRemoveKeepsSiblingsParent(t *testing.T) {
	top := t.TempDir()
	a, b := filepath.Join(top, parentName, "root.a"), filepath.Join(top, parentName, "root.b")
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := Remove(a, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b); err != nil {
		t.Errorf("sibling removed: %v", err)
	}
}

func TestMountpoint(t *testing.T) {
	mp, err := Mountpoint()
	if err != nil {
		t.Skipf("no cgroup2 here: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mp, "cgroup.procs")); err != nil {
		t.Errorf("%s is not a cgroup2 root: %v", mp, err)
	}
}

func TestDelegatedPath(t *testing.T) {
	got := DelegatedPath("/sys/fs/cgroup", "/system.slice/apptainer-instance@demo.service", "root", "demo")
	if want := "/sys/fs/cgroup/system.slice/apptainer-instance@demo.service/apptainer/root.demo"; got != want {
		t.Errorf("DelegatedPath = %s, want %s", got, want)
	}
}

func TestUnifiedPath(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"0::/system.slice/apptainer-instance@demo.service\n", "/system.slice/apptainer-instance@demo.service", true},
		// A hybrid host: v1 lines first.
		{"12:pids:/system.slice/x.service\n1:name=systemd:/system.slice/x.service\n0::/system.slice/x.service\n", "/system.slice/x.service", true},
		{"0::/\n", "/", true},
		{"1:name=systemd:/x\n", "", false}, // cgroup v1 only
		{"0::/../../outside\n", "", false},
		{"0::/a/../b\n", "", false},
		{"0::relative\n", "", false},
		{"", "", false},
	} {
		got, err := unifiedPath(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("unifiedPath(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
