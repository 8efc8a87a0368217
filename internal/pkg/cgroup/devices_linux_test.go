package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDeviceRules(t *testing.T) {
	one, three := int64(1), int64(3)
	got, err := deviceRules([]specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &one, Minor: &three, Access: "rw"},
		{Allow: true, Type: "c", Major: &one},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a *:* rwm", "c 1:3 rw", "c 1:* rwm"}
	for i, r := range got {
		if s := r.CgroupString(); s != want[i] {
			t.Errorf("rule %d = %q, want %q", i, s, want[i])
		}
	}
	for _, bad := range []specs.LinuxDeviceCgroup{{Type: "x"}, {Type: "c", Access: "rwx"}} {
		if _, err := deviceRules([]specs.LinuxDeviceCgroup{bad}); err == nil {
			t.Errorf("rule %+v accepted", bad)
		}
	}
}

// TestApplyDevicePolicy runs a process in a cgroup with a policy that
// allows /dev/null only: it reads /dev/null, and /dev/zero is refused.
// The positive control is the same read of /dev/zero in the same cgroup
// before the policy.
func TestApplyDevicePolicy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a cgroup and load a BPF program")
	}
	mnt, err := Mountpoint()
	if err != nil {
		t.Skipf("no cgroup2 here: %v", err)
	}
	dir := filepath.Join(mnt, fmt.Sprintf("apptainer-devtest-%d", os.Getpid()))
	fd, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		fd.Close()
		if err := Remove(dir, 5*time.Second); err != nil {
			t.Error(err)
		}
	}()
	read := func(dev string) error {
		cmd := exec.Command("head", "-c", "1", dev)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := read("/dev/zero"); err != nil {
		t.Fatalf("positive control: /dev/zero cannot be read before the policy: %v", err)
	}
	one, three := int64(1), int64(3)
	err = ApplyDevicePolicy(dir, []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &one, Minor: &three, Access: "rwm"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := read("/dev/null"); err != nil {
		t.Errorf("/dev/null, which the policy allows, cannot be read: %v", err)
	}
	err = read("/dev/zero")
	if err == nil || !strings.Contains(err.Error(), "Operation not permitted") {
		t.Errorf("reading /dev/zero under the policy: %v, want EPERM", err)
	}
}
