//go:build e2e

package e2e

// Booting images whose init is not systemd (issue 18, item 1): busybox
// init and Debian's sysvinit report no readiness. Upstream boots them; so
// do we, with the instance started once their processes settle, and each
// halted by its own signal on instance stop.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// otherInit is an image whose init does not report readiness, and what
// the runtime says of it.
type otherInit struct {
	name  string
	image func(t *testing.T) string
	// says is how instance start names the init; halted is how instance
	// stop's outcome reads when the init's own halt signal worked.
	says, halted string
}

var otherInits = []otherInit{
	{"busybox", busyboxInitImage, "busybox init", "init halted cleanly"},
	// Debian's inittab runs shutdown -r on sysvinit's ctrl-alt-del
	// (SIGINT): its services stop, and its reboot(2) ends the instance.
	{"sysvinit", func(t *testing.T) string { return recipeImage(t, "sysvinit") }, "sysvinit", "init asked for a reboot and was stopped"},
}

// startedLine is what instance start prints on stdout for an init that
// settled.
func startedLine(name, init string) string {
	return fmt.Sprintf("%s: unknown (%s does not report readiness; started once its processes settled)", name, init)
}

// checkHalted checks that instance stop asked init to halt and init did,
// rather than being killed at the stop timeout.
func checkHalted(t *testing.T, r result, halted string) {
	t.Helper()
	mustSucceed(t, r, "instance stop")
	if !strings.Contains(r.Stderr, halted) || strings.Contains(r.Stderr, "(Timeout)") {
		t.Errorf("instance stop did not halt init by its own signal (want %q):\n%s", halted, r)
	}
}

// TestBootOtherInitsBridge boots each init with legacy --boot: a network
// namespace of its own on the CNI bridge.
func TestBootOtherInitsBridge(t *testing.T) {
	for _, in := range otherInits {
		t.Run(in.name, func(t *testing.T) {
			img := in.image(t)
			name := "init-" + in.name
			stopOnCleanup(t, name)
			r := apptainer(t, "instance", "start", "--boot", img, name)
			mustSucceed(t, r, "instance start --boot")
			if !strings.Contains(r.Stdout, startedLine(name, in.says)) {
				t.Errorf("instance start does not say the readiness is unknown (want %q):\n%s", startedLine(name, in.says), r)
			}
			inst := getInstance(t, name)
			if inst.IP == "" || !strings.HasPrefix(inst.IP, "10.22.") || inst.State != "unknown" {
				t.Errorf("list entry %+v: want an IP on the bridge (10.22.0.0/16) and state unknown", inst)
			}
			if host, own := readNS(t, "/proc/self/ns/net"), readNS(t, fmt.Sprintf("/proc/%d/ns/net", inst.Pid)); host == own {
				t.Errorf("init shares the test's network namespace %s", host)
			}
			comm := apptainer(t, "exec", "instance://"+name, "cat", "/proc/1/comm")
			mustSucceed(t, comm, "exec instance://")
			if strings.TrimSpace(comm.Stdout) != "init" {
				t.Errorf("PID 1 in the instance is %q, want init", comm.Stdout)
			}
			checkHalted(t, apptainer(t, "instance", "stop", name), in.halted)
			if !waitGone(name, 30*time.Second) {
				t.Error("the monitor still runs after stop")
			}
		})
	}
}

// TestBootOtherInitsHostnet boots each init with --boot-hostnet in a fake
// host: the guard compares once the processes settled and says so, and
// the host is unchanged.
func TestBootOtherInitsHostnet(t *testing.T) {
	for _, in := range otherInits {
		t.Run(in.name, func(t *testing.T) {
			img := in.image(t)
			h := newFakeHost(t)
			before := h.snapshot(t)
			name := "hostnet-" + in.name
			h.stopOnCleanup(t, name)
			r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", img, name)
			mustSucceed(t, r, "instance start --boot --boot-hostnet")
			if !strings.Contains(r.Stdout, startedLine(name, in.says)) {
				t.Errorf("instance start does not say the readiness is unknown:\n%s", r)
			}
			if !strings.Contains(r.Stderr, "network units (systemd's; "+in.says+" ignores them)") {
				t.Errorf("instance start does not say that the masks do nothing for %s:\n%s", in.says, r)
			}
			if !strings.Contains(r.Stderr, "host network unchanged (compared once init's processes had settled)") {
				t.Errorf("the guard does not say when it compared:\n%s", r)
			}
			inst := getInstance(t, name)
			if host, own := readNS(t, h.NetNS), readNS(t, fmt.Sprintf("/proc/%d/ns/net", inst.Pid)); host != own {
				t.Errorf("init's network namespace %s, the fake host's %s", own, host)
			}
			mustSucceed(t, h.apptainer(t, "exec", "instance://"+name, "ip", "-o", "link", "show", "ib0"), "the host's ib0 seen from inside")
			checkHalted(t, h.apptainer(t, "instance", "stop", name), in.halted)
			assertUnchanged(t, "after the instance stopped", before, h.snapshot(t))
		})
	}
}

// ifupLayer configures the fake host's ib0 the way a sysvinit image of a
// cluster node does: ifupdown at boot (and ifdown at halt), and sysctls.
func ifupLayer(t *testing.T) string {
	t.Helper()
	return layerWith(t, map[string]string{
		"etc/network/interfaces.d/ib0": "auto ib0\niface ib0 inet static\n  address 10.201.0.88/24\n  mtu 1500\n",
		"etc/sysctl.d/60-net.conf":     "net.ipv4.conf.ib0.accept_local = 1\n",
	}, 0o644)
}

// TestBootSysvinitHostnetSafeguards: sysvinit's rc scripts run ifup for
// ib0; with the safeguards (no masked units apply to it) the fake host is
// unchanged. Positive control: with them off (no user namespace,
// --keep-privs) the same boot does change ib0, and the guard, which
// compares once the processes settled, reports it.
func TestBootSysvinitHostnetSafeguards(t *testing.T) {
	img := linkedImage(t, recipeImage(t, "sysvinit"), ifupLayer(t))
	t.Run("safeguards", func(t *testing.T) {
		h := newFakeHost(t)
		before := h.snapshot(t)
		const name = "sysv-safe"
		h.stopOnCleanup(t, name)
		r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", "--boot-hostnet-guard", "fail", img, name)
		mustSucceed(t, r, "boot of sysvinit configuring ib0, with the safeguards")
		// ifup ran and failed: its own error is in the console log.
		log, _ := os.ReadFile(getInstance(t, name).LogOutPath)
		if !strings.Contains(string(log), "ib0") {
			t.Errorf("the console log does not show ifup trying ib0, so nothing was tested:\n%s", log)
		}
		assertUnchanged(t, "while the sysvinit instance runs", before, h.snapshot(t))
		mustSucceed(t, h.apptainer(t, "instance", "stop", name), "instance stop")
		assertUnchanged(t, "after the sysvinit instance stopped", before, h.snapshot(t))
	})
	t.Run("positive-control", func(t *testing.T) {
		withConf(t, "boot hostnet userns = no")
		h := newFakeHost(t)
		const name = "sysv-unsafe"
		h.stopOnCleanup(t, name)
		r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", "--keep-privs", "--boot-hostnet-guard", "warn", img, name)
		mustSucceed(t, r, "boot of sysvinit configuring ib0, safeguards off")
		if !strings.Contains(r.Stderr, "the host network changed") || !strings.Contains(r.Stderr, "ib0") {
			t.Errorf("the guard did not report sysvinit's change of ib0:\n%s", r)
		}
		if addr := h.output(t, "ip", "-o", "addr", "show", "dev", "ib0"); !strings.Contains(addr, "10.201.0.88") {
			t.Errorf("ifup did not reach the fake host's ib0, so the safeguards above were not tested:\n%s", addr)
		}
		mustSucceed(t, h.apptainer(t, "instance", "stop", name), "instance stop")
	})
}

// kexecProbe calls kexec_load with arguments the kernel refuses (EINVAL
// past its permission check) and prints the errno's text: nothing is
// ever loaded.
const kexecProbe = `syscall(246, 0, 100, 0, 0); print "$!\n"`

// rebootProbe calls reboot(2) with LINUX_REBOOT_CMD_RESTART and prints
// the errno's text if it returns (in a PID namespace of its own, with
// CAP_SYS_BOOT, it does not: the caller exits and init is killed).
const rebootProbe = `syscall(169, 0xfee1dead, 672274793, 0x01234567, 0); print "$!\n"`

// TestAttackRebootFromInstance: booted instances keep CAP_SYS_BOOT so that
// their init can halt; root in the instance uses it. reboot(2) must end
// the instance only, and kexec_load must stay refused.
func TestAttackRebootFromInstance(t *testing.T) {
	img := recipeImage(t, "sysvinit") // perl, for the kexec probe
	start := func(t *testing.T, name string, extra ...string) listEntry {
		t.Helper()
		stopOnCleanup(t, name)
		args := append([]string{"instance", "start", "--boot", "--network", "none"}, extra...)
		mustSucceed(t, apptainer(t, append(args, img, name)...), "instance start")
		inst := getInstance(t, name)
		// The attack below reboots the machine if the instance shares its
		// PID namespace: never try it then.
		if readNS(t, fmt.Sprintf("/proc/%d/ns/pid", inst.Pid)) == readNS(t, "/proc/self/ns/pid") {
			t.Fatalf("instance %s shares the host's PID namespace; not trying reboot(2) in it", name)
		}
		return inst
	}
	t.Run("reboot", func(t *testing.T) {
		const name = "attack-reboot"
		inst := start(t, name)
		mask, err := strconv.ParseUint(statusField(t, inst.Pid, "CapBnd"), 16, 64)
		if err != nil || mask&(1<<22) == 0 {
			t.Errorf("init's CapBnd %x (%v) lacks CAP_SYS_BOOT", mask, err)
		}
		// From a process that is not the namespace's init.
		_ = apptainer(t, "exec", "instance://"+name, "perl", "-e", rebootProbe)
		if !waitGone(name, 60*time.Second) {
			t.Fatal("reboot(2) in the instance did not end it")
		}
		log, _ := os.ReadFile(inst.LogErrPath)
		if !strings.Contains(string(log), "init asked for a reboot and was stopped") {
			t.Errorf("the monitor did not see init end by reboot(2):\n%s", log)
		}
	})
	t.Run("reboot-without-cap", func(t *testing.T) {
		// Control: it is CAP_SYS_BOOT that let reboot(2) through above.
		const name = "attack-reboot-nocap"
		start(t, name, "--drop-caps", "CAP_SYS_BOOT")
		r := apptainer(t, "exec", "instance://"+name, "perl", "-e", rebootProbe)
		if strings.TrimSpace(r.Stdout) != "Operation not permitted" {
			t.Errorf("reboot(2) without CAP_SYS_BOOT: want EPERM:\n%s", r)
		}
		if l := listInstances(t, name); len(l) != 1 {
			t.Errorf("the instance is gone after a refused reboot(2): %+v", l)
		}
	})
	t.Run("kexec", func(t *testing.T) {
		host := strings.TrimSpace(output(t, "perl", "-e", kexecProbe))
		if host == "Operation not permitted" || host == "" {
			t.Fatalf("kexec_load on the host says %q: it cannot tell the seccomp filter's refusal from the kernel's", host)
		}
		const name = "attack-kexec"
		start(t, name)
		r := apptainer(t, "exec", "instance://"+name, "perl", "-e", kexecProbe)
		mustSucceed(t, r, "the kexec probe")
		if got := strings.TrimSpace(r.Stdout); got != "Operation not permitted" {
			t.Errorf("kexec_load in the instance: %q, want the seccomp filter's EPERM (the host's kernel says %q)", got, host)
		}
	})
}

// TestBootWrapperExecsSystemd: an init that is a script which ends by
// executing systemd is not known for systemd when it starts, but its
// READY=1 counts: the start ends on it, with systemd's state, not on the
// processes settling.
func TestBootWrapperExecsSystemd(t *testing.T) {
	layer := layerWith(t, map[string]string{
		"usr/sbin/init": "#!/bin/sh\necho wrapper ran > /run/wrapper.ran\nexec /lib/systemd/systemd\n",
	}, 0o755)
	img := linkedImage(t, bootImage(t), layer)
	const name = "wrapped-systemd"
	stopOnCleanup(t, name)
	r := apptainer(t, "instance", "start", "--boot", "--network", "none", img, name)
	mustSucceed(t, r, "instance start --boot of a wrapper script")
	if !strings.Contains(r.Stdout, name+": running") && !strings.Contains(r.Stdout, name+": degraded") {
		t.Errorf("the start did not end on systemd's READY=1 (want its state):\n%s", r)
	}
	ran := apptainer(t, "exec", "instance://"+name, "cat", "/run/wrapper.ran")
	if strings.TrimSpace(ran.Stdout) != "wrapper ran" {
		t.Errorf("the wrapper did not run, so this tested systemd alone:\n%s", ran)
	}
	mustSucceed(t, apptainer(t, "instance", "stop", name), "instance stop")
}
