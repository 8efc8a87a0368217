package cgroup

import (
	"errors"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestControllersForLimits(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	w := uint16(300)
	for _, tc := range []struct {
		r    specs.LinuxResources
		want []string
	}{
		{specs.LinuxResources{}, nil},
		{specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}, nil},
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20)}}, []string{"memory"}},
		{specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000), Period: u64(100000)}}, []string{"cpu"}},
		{specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}, []string{"cpuset"}},
		{specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}}, []string{"pids"}},
		{specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: &w}}, []string{"io"}},
	} {
		got := controllersFor(resourcesOf(&tc.r))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: controllers %v, want %v", tc.r, got, tc.want)
		}
		if HasLimits(&tc.r) != (len(tc.want) > 0) {
			t.Errorf("%+v: HasLimits %v", tc.r, HasLimits(&tc.r))
		}
	}
	if r := resourcesOf(&specs.LinuxResources{}); !r.SkipDevices {
		t.Errorf("the limits would rewrite the device policy")
	}
}

// TestApplyLimitsWithoutControllers: no v1 hierarchy and a cgroup2 root
// without the controller is ErrNoController, before anything is written.
func TestApplyLimitsWithoutControllers(t *testing.T) {
	if mnt, merr := Mountpoint(); merr == nil && len(missingV2(mnt+"/x/y", []string{"memory"})) == 0 {
		// ApplyLimits would enable it on the real hierarchy.
		t.Skip("this host's cgroup2 root has the memory controller")
	}
	dir := t.TempDir()
	limit := int64(1 << 20)
	_, err := ApplyLimits(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}, dir+"/apptainer/u.n", nil)
	if !errors.Is(err, ErrNoController) {
		t.Errorf("ApplyLimits: %v, want ErrNoController", err)
	}
	oom := true
	_, err = ApplyLimits(&specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: &oom}}, dir+"/apptainer/u.n", nil)
	if !errors.Is(err, ErrNoController) {
		t.Errorf("--oom-kill-disable without v1: %v, want ErrNoController", err)
	}
}
