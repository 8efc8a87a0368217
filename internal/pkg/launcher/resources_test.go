package launcher

import (
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
)

func TestLimits(t *testing.T) {
	boot := func(l Limits) Options {
		return instanceOpts(func(o *Options) { o.Boot = true; o.Limits = l })
	}
	c, _, err := Build(boot(Limits{Memory: "256M", MemoryReservation: "128m", MemorySwap: "512M", CPUs: "1.5", CPUShares: 512,
		CPUSetCPUs: "0-1", CPUSetMems: "0", PidsLimit: 500, BlkioWeight: 300, OOMKillDisable: true}), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	r := c.Spec.Linux.Resources
	switch {
	case r == nil || r.Memory == nil || *r.Memory.Limit != 256<<20 || *r.Memory.Reservation != 128<<20 || *r.Memory.Swap != 512<<20 || !*r.Memory.DisableOOMKiller:
		t.Errorf("memory %+v", r.Memory)
	case r.CPU == nil || *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 512 || r.CPU.Cpus != "0-1" || r.CPU.Mems != "0":
		t.Errorf("cpu %+v", r.CPU)
	case r.Pids == nil || *r.Pids.Limit != 500:
		t.Errorf("pids %+v", r.Pids)
	case r.BlockIO == nil || *r.BlockIO.Weight != 300:
		t.Errorf("blkio %+v", r.BlockIO)
	case len(r.Devices) == 0:
		t.Errorf("the limits replaced the boot device policy")
	}
	c, _, _ = Build(boot(Limits{}), apptainerconf.Default(), rootHost())
	if r := c.Spec.Linux.Resources; r.Memory != nil || r.CPU != nil || r.Pids != nil || r.BlockIO != nil {
		t.Errorf("control: no flags, resources %+v", r)
	}
	if c, _, _ = Build(boot(Limits{PidsLimit: -1}), apptainerconf.Default(), rootHost()); *c.Spec.Linux.Resources.Pids.Limit != -1 {
		t.Errorf("--pids-limit -1 is not unlimited")
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{instanceOpts(func(o *Options) { o.Limits.Memory = "1G" }), "need an instance started with --boot"},
		{Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Limits: Limits{PidsLimit: 5}}, "need an instance started with --boot"},
		{boot(Limits{Memory: "lots"}), `--memory "lots"`},
		{boot(Limits{Memory: "0"}), "want a positive size"},
		{boot(Limits{MemorySwap: "1G"}), "--memory-swap is memory plus swap"},
		{boot(Limits{Memory: "1G", MemorySwap: "512M"}), "must not be smaller"},
		{boot(Limits{CPUs: "-1"}), "want a positive number of CPUs"},
		{boot(Limits{CPUShares: 1}), "want 2 to 262144"},
		{boot(Limits{BlkioWeight: 5}), "want 10 to 1000"},
	} {
		if _, _, err := Build(tc.o, apptainerconf.Default(), rootHost()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o.Limits, err, tc.want)
		}
	}
}

func TestParseCgroupsFile(t *testing.T) {
	r, err := ParseCgroupsFile("c.toml", []byte("[memory]\nlimit = 536870912\n[pids]\nlimit = 321\n[cpu]\nshares = 512\ncpus = \"0\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Memory == nil || *r.Memory.Limit != 536870912 || r.Pids == nil || *r.Pids.Limit != 321 || r.CPU == nil || *r.CPU.Shares != 512 || r.CPU.Cpus != "0" {
		t.Errorf("parsed %+v", r)
	}
	for _, tc := range []struct{ in, want string }{
		{"[memory]\nlimit = 1\nswappiness = 10\n", "memory.swappiness is not supported"},
		{"[devices]\nallow = false\n", "[devices] is not supported"},
		{"[hugepageLimits]\n", "is not supported"},
		{"[memory\n", "c.toml"},
		{"[pids]\nlimit = \"many\"\n", "c.toml"},
	} {
		if _, err := ParseCgroupsFile("c.toml", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	o := instanceOpts(func(o *Options) { o.Boot = true; o.Limits.File = r })
	c, _, err := Build(o, apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if *c.Spec.Linux.Resources.Pids.Limit != 321 || len(c.Spec.Linux.Resources.Devices) == 0 {
		t.Errorf("--apply-cgroups: resources %+v", c.Spec.Linux.Resources)
	}
	o.Limits.Memory = "1G"
	if _, _, err := Build(o, apptainerconf.Default(), rootHost()); err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Errorf("--apply-cgroups with --memory: %v", err)
	}
}

// TestDelegatedCgroup: --delegated-cgroup reaches the instance's
// configuration for a booted instance, and is refused without --boot and
// with resource limits, before anything starts.
func TestDelegatedCgroup(t *testing.T) {
	opts := func(boot bool, l Limits) Options {
		return instanceOpts(func(o *Options) { o.Boot = boot; o.Limits = l; o.DelegatedCgroup = true })
	}
	c, _, err := Build(opts(true, Limits{}), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Instance.DelegatedCgroup {
		t.Error("--delegated-cgroup did not reach the instance's configuration")
	}
	c, _, err = Build(instanceOpts(func(o *Options) { o.Boot = true }), apptainerconf.Default(), rootHost())
	if err != nil || c.Instance.DelegatedCgroup {
		t.Errorf("control: without the flag, delegated=%v, err %v", c != nil && c.Instance.DelegatedCgroup, err)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{opts(false, Limits{}), "--delegated-cgroup requires --boot"},
		{opts(true, Limits{Memory: "1G"}), "cannot be combined with --delegated-cgroup"},
		{opts(true, Limits{PidsLimit: 10}), "MemoryMax="},
	} {
		_, _, err := Build(tc.o, apptainerconf.Default(), rootHost())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error with %q", err, tc.want)
		}
	}
}
