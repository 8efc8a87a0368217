//go:build e2e

package e2e

// The soak: many start/stop cycles mixing every kind of instance, with a
// before/after record of everything they could leak.

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// soakCycles is APPTAINER_SOAK_CYCLES, 30 by default (CI); `make soak`
// runs 200.
func soakCycles(t *testing.T) int {
	t.Helper()
	n := 30
	if v := os.Getenv("APPTAINER_SOAK_CYCLES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("APPTAINER_SOAK_CYCLES=%q: want a positive number", v)
		}
	}
	return n
}

func TestSoak(t *testing.T) {
	cycles := soakCycles(t)
	img := bootImage(t)
	h := newFakeHost(t)
	privateNet(t, "relsoak", "rbr9", "10.95.0.0/16", "")
	nsPath := netnsHolder(t)
	// The bridge and CNI's chains are made at first use and kept by design.
	mustSucceed(t, h.apptainer(t, "exec", "--network", "relsoak", env.Busybox, "true"), "exec (warm-up)")
	waitNoTentative(t, h, "the warm-up made the bridge rbr9")
	sc := scope{Names: []string{"soak-"}, Nets: []string{"relsoak"}}
	before := takeHostState(t, h, sc)
	for _, n := range []string{"soak-hostnet", "soak-bridge", "soak-path", "soak-plain"} {
		h.stopOnCleanup(t, n)
	}
	start := time.Now()
	for c := 0; c < cycles && !t.Failed(); c++ {
		// Several instances at once: a plain one always, and one booted
		// kind in turn beside it.
		mustSucceed(t, h.apptainer(t, "instance", "start", env.Busybox, "soak-plain"), "start plain")
		var boot string
		switch c % 3 {
		case 0:
			boot = "soak-hostnet"
			mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", img, boot), "start --boot --boot-hostnet")
		case 1:
			boot = "soak-bridge"
			mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--network", "relsoak", img, boot), "start --boot bridge")
		case 2:
			boot = "soak-path"
			mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--netns-path", nsPath, img, boot), "start --boot --netns-path")
		}
		mustSucceed(t, h.apptainer(t, "exec", "instance://soak-plain", "true"), "exec instance://")
		mustSucceed(t, h.apptainer(t, "exec", "instance://"+boot, "true"), "exec in the booted instance")
		mustSucceed(t, h.apptainer(t, "exec", env.Busybox, "true"), "exec")
		mustSucceed(t, h.apptainer(t, "instance", "stop", boot), "stop "+boot)
		mustSucceed(t, h.apptainer(t, "instance", "stop", "soak-plain"), "stop plain")
	}
	t.Logf("%d cycles in %s", cycles, time.Since(start).Round(time.Second))
	assertSameHostState(t, h, sc, before)
}
