//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/hostnet/policy"
)

// snapshot takes the test's own record of the fake host's network state,
// independent of the runtime's guard.
func (h *fakeHost) snapshot(t *testing.T) *hostnet.Snapshot {
	t.Helper()
	s, err := hostnet.TakeInNetns(h.NetNS, hostnet.SnapshotOptions{ResolvConf: h.ResolvConf})
	if err != nil {
		t.Fatalf("snapshot of the fake host: %v", err)
	}
	return s
}

func assertUnchanged(t *testing.T, what string, before, after *hostnet.Snapshot) {
	t.Helper()
	if d := hostnet.Compare(before, after); !d.Empty() {
		t.Errorf("the fake host's network changed %s:\n%s", what, d.String())
	}
}

func TestBootHostnet(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	// RDMA device nodes as an InfiniBand host has them: the verbs and
	// rdma_cm nodes are for the instance, the management ones are not.
	h.mustRun(t, "mkdir", "-p", "/dev/infiniband")
	h.mustRun(t, "mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/dev/infiniband")
	h.mustRun(t, "mknod", "/dev/infiniband/uverbs0", "c", "231", "192")
	h.mustRun(t, "mknod", "/dev/infiniband/rdma_cm", "c", "10", "58")
	h.mustRun(t, "mknod", "/dev/infiniband/umad0", "c", "231", "0")
	before := h.snapshot(t)
	linksBefore := linkNames(h.output(t, "ip", "-o", "link"))
	hostHostname := h.mustRun(t, "hostname")
	const name = "hostnet1"
	h.stopOnCleanup(t, name)
	r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", img, name)
	mustSucceed(t, r, "instance start --boot --boot-hostnet")
	if !strings.Contains(r.Stdout, name+": running") {
		t.Errorf("state not running:\n%s", r)
	}
	if !strings.Contains(r.Stderr, "host network unchanged") {
		t.Errorf("the guard did not report:\n%s", r)
	}
	inst := getInstance(t, name)
	if inst.IP != "" || !inst.BootHostnet || len(inst.MaskedUnits) < 10 || inst.State != "running" {
		t.Errorf("list entry %+v", inst)
	}
	if hostNS, instNS := readNS(t, h.NetNS), readNS(t, fmt.Sprintf("/proc/%d/ns/net", inst.Pid)); hostNS != instNS {
		t.Errorf("instance netns %s, host %s", instNS, hostNS)
	}
	if !strings.HasSuffix(pid1Exe(t, inst.Pid), "systemd") {
		t.Errorf("PID 1 is %s", pid1Exe(t, inst.Pid))
	}
	checkResidentMonitor(t, inst.Pid)
	// No bridge, no veth: the fake host keeps exactly its links (lo, ib0).
	// TestBootLegacyBridge is the positive control of vethLinks.
	links := h.output(t, "ip", "-o", "link")
	if v := vethLinks(links); len(v) > 0 || !slices.Equal(linkNames(links), linksBefore) {
		t.Errorf("links changed (veth links %v), was %v:\n%s", v, linksBefore, links)
	}
	if nat := h.mustRun(t, "iptables-save"); strings.Contains(nat, "CNI") {
		t.Errorf("CNI chains created:\n%s", nat)
	}
	ib := h.apptainer(t, "exec", "instance://"+name, "ip", "-o", "link", "show", "ib0")
	if !strings.Contains(ib.Stdout, "mtu 2044") {
		t.Errorf("ib0 not visible inside: %s", ib)
	}
	ibdev := h.apptainer(t, "exec", "instance://"+name, "ls", "/dev/infiniband")
	if !strings.Contains(ibdev.Stdout, "uverbs0") || !strings.Contains(ibdev.Stdout, "rdma_cm") || strings.Contains(ibdev.Stdout, "umad0") {
		t.Errorf("/dev/infiniband inside: %s", ibdev)
	}
	hn := h.apptainer(t, "exec", "instance://"+name, "hostname")
	if strings.TrimSpace(hn.Stdout) != name {
		t.Errorf("hostname inside %q", hn.Stdout)
	}
	if got := h.mustRun(t, "hostname"); got != hostHostname {
		t.Errorf("host hostname changed: %q -> %q", hostHostname, got)
	}
	// Safeguards, seen from the host and from inside.
	capBnd := statusField(t, inst.Pid, "CapBnd")
	mask, err := strconv.ParseUint(capBnd, 16, 64)
	if err != nil {
		t.Fatalf("CapBnd of init %q: %v", capBnd, err)
	}
	// Positive control: systemd as PID 1 keeps CAP_SYS_ADMIN, so a mask
	// that reads as empty cannot pass for "everything dropped".
	if mask&(1<<21) == 0 {
		t.Errorf("init's CapBnd %s lacks CAP_SYS_ADMIN: not the mask of a booted init", capBnd)
	}
	for bit, capName := range map[uint]string{12: "CAP_NET_ADMIN", 13: "CAP_NET_RAW", 16: "CAP_SYS_MODULE", 25: "CAP_SYS_TIME"} {
		if mask&(1<<bit) != 0 {
			t.Errorf("init keeps %s (CapBnd %s)", capName, capBnd)
		}
	}
	mounts := h.apptainer(t, "exec", "instance://"+name, "cat", "/proc/self/mountinfo").Stdout
	for _, want := range []string{" /sys ro,", " /proc/sys ro,", " /etc/resolv.conf ro,"} {
		if !strings.Contains(mounts, want) {
			t.Errorf("mountinfo inside lacks %q", want)
		}
	}
	// resolv.conf inside is the fake host's, and cannot be written.
	resolv := h.apptainer(t, "exec", "instance://"+name, "cat", "/etc/resolv.conf")
	mustSucceed(t, resolv, "cat /etc/resolv.conf inside")
	if !strings.Contains(resolv.Stdout, "nameserver 10.200.0.53") {
		t.Errorf("resolv.conf inside is not the host's:\n%s", resolv.Stdout)
	}
	if w := h.apptainer(t, "exec", "instance://"+name, "sh", "-c", "echo nameserver 6.6.6.6 > /etc/resolv.conf"); w.Code == 0 {
		t.Error("resolv.conf is writable inside")
	} else if !strings.Contains(w.Stderr, "Read-only file system") {
		t.Errorf("writing resolv.conf inside failed, but not as a read-only file:\n%s", w)
	}
	if again := h.apptainer(t, "exec", "instance://"+name, "cat", "/etc/resolv.conf"); again.Stdout != resolv.Stdout {
		t.Errorf("resolv.conf inside changed after a refused write: %q, was %q", again.Stdout, resolv.Stdout)
	}
	masked := h.apptainer(t, "exec", "instance://"+name, "systemctl", "is-enabled", "systemd-resolved.service")
	if !strings.Contains(masked.Stdout, "masked") {
		t.Errorf("systemd-resolved not masked: %s", masked)
	}
	diff := h.apptainer(t, "hostnet", "diff", name)
	if diff.Code != 0 || !strings.Contains(diff.Stdout, "unchanged") {
		t.Errorf("hostnet diff: %s", diff)
	}
	assertUnchanged(t, "while the instance runs", before, h.snapshot(t))
	mustSucceed(t, h.apptainer(t, "instance", "stop", name), "instance stop")
	assertUnchanged(t, "after stop", before, h.snapshot(t))
}

// riskyLayer is an image layer that tries to reconfigure the host network
// when booted, in the ways the feasibility study saw real images do.
func riskyLayer(t *testing.T) string {
	t.Helper()
	files := map[string]string{
		"etc/systemd/network/10-ib0.network": "[Match]\nName=ib0\n[Link]\nMTUBytes=4092\n[Network]\nAddress=10.201.0.77/24\n",
		"etc/systemd/network/99-all.network": "[Match]\nName=eth* en*\n[Network]\nDHCP=yes\n",
		"etc/network/interfaces.d/ib0":       "auto ib0\niface ib0 inet static\n  address 10.201.0.88/24\n  mtu 1500\n",
		"etc/network/interfaces.d/eth0":      "allow-hotplug eth0\niface eth0 inet dhcp\n",
		"etc/sysctl.d/60-net.conf":           "net.ipv4.conf.all.rp_filter = 2\nnet.ipv4.conf.ib0.accept_local = 1\nnet.core.somaxconn = 999\n",
		// A stand-in for a distribution firewall unit, enabled below: the
		// image has no nft binary, so it rewrites the host's configuration
		// with ip instead. It leaves standinMark behind, so that tests can
		// tell whether it ran (standinRan).
		"etc/systemd/system/nftables.service": "[Unit]\nDescription=nftables stand-in (rewrites the host network)\n[Service]\nType=oneshot\nRemainAfterExit=yes\n" +
			"ExecStart=/bin/sh -c 'touch " + standinMark + "; ip link set ib0 mtu 1500; ip rule del pref 1000; ip addr flush dev ib0'\n[Install]\nWantedBy=multi-user.target\n",
	}
	dir := layerWith(t, files, 0o644)
	links := map[string]string{
		"etc/systemd/system/multi-user.target.wants/systemd-networkd.service":                 "/lib/systemd/system/systemd-networkd.service",
		"etc/systemd/system/sockets.target.wants/systemd-networkd.socket":                     "/lib/systemd/system/systemd-networkd.socket",
		"etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service": "/lib/systemd/system/systemd-networkd-wait-online.service",
		"etc/systemd/system/dbus-org.freedesktop.network1.service":                            "/lib/systemd/system/systemd-networkd.service",
		"etc/systemd/system/multi-user.target.wants/nftables.service":                         "/etc/systemd/system/nftables.service",
	}
	for name, target := range links {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// standinMark is the file the firewall stand-in of riskyLayer creates
// inside the instance when it runs.
const standinMark = "/run/firewall-standin.ran"

// standinRan tells whether the firewall stand-in ran in instance name.
func standinRan(t *testing.T, h *fakeHost, name string) bool {
	t.Helper()
	r := h.apptainer(t, "exec", "instance://"+name, "sh", "-c", "if [ -e "+standinMark+" ]; then echo ran; else echo absent; fi")
	switch strings.TrimSpace(r.Stdout) {
	case "ran":
		return true
	case "absent":
		return false
	}
	t.Fatalf("cannot tell whether the firewall stand-in ran in %s:\n%s", name, r)
	return false
}

// waitBootSettled waits until systemd in instance name is done with all it
// was asked to do: the boot is over (is-system-running --wait has left
// "starting") and no job is queued (list-jobs). A unit that would change
// the host has had its turn then, so what a test asserts next about the
// host is not an early look.
func waitBootSettled(t *testing.T, h *fakeHost, name string) {
	t.Helper()
	r := h.apptainer(t, "exec", "instance://"+name, "timeout", "120", "systemctl", "is-system-running", "--wait")
	if st := strings.TrimSpace(r.Stdout); st != "running" && st != "degraded" {
		t.Fatalf("waiting for systemd in %s to finish booting: is-system-running --wait says %q:\n%s", name, st, r)
	}
	waitFor(t, 60*time.Second, "systemd's job queue in "+name+" to be empty", func() (bool, string) {
		r := h.apptainer(t, "exec", "instance://"+name, "systemctl", "list-jobs", "--no-pager")
		return r.Code == 0 && strings.TrimSpace(r.Stdout) == "No jobs running.", r.String()
	})
}

// stackedImage makes a sandbox of img with layer on top: an overlay mounted
// in the test's own mount namespace, unmounted at cleanup.
func stackedImage(t *testing.T, img, layer string) string {
	t.Helper()
	base := t.TempDir()
	merged, upper, work := filepath.Join(base, "merged"), filepath.Join(base, "upper"), filepath.Join(base, "work")
	for _, d := range []string{merged, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s:%s,upperdir=%s,workdir=%s", layer, img, upper, work)
	if out, err := exec.Command("mount", "-t", "overlay", "overlay", "-o", opts, merged).CombinedOutput(); err != nil {
		t.Fatalf("overlay: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", merged).Run() })
	return merged
}

func TestBootHostnetRiskyImage(t *testing.T) {
	img := linkedImage(t, bootImage(t), riskyLayer(t))
	// Both modes must keep the host unchanged: the masks, dropped
	// capabilities and read-only paths alone, and with a user namespace.
	for _, userns := range []string{"yes", "no"} {
		t.Run("userns="+userns, func(t *testing.T) {
			withConf(t, "boot hostnet userns = "+userns)
			h := newFakeHost(t)
			before := h.snapshot(t)
			const name = "risky1"
			h.stopOnCleanup(t, name)
			r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", "--boot-hostnet-guard", "fail", img, name)
			mustSucceed(t, r, "boot of a risky image with --boot-hostnet")
			waitBootSettled(t, h, name)
			// The firewall stand-in is enabled in the image and masked by
			// the runtime (it runs where it is unmasked: see
			// TestBootHostnetGuardSeesChanges).
			if en := h.apptainer(t, "exec", "instance://"+name, "systemctl", "is-enabled", "nftables.service"); !strings.Contains(en.Stdout, "masked") {
				t.Errorf("the firewall stand-in is not masked:\n%s", en)
			}
			if standinRan(t, h, name) {
				t.Error("the firewall stand-in ran")
			}
			assertUnchanged(t, "while the risky instance runs", before, h.snapshot(t))
			mustSucceed(t, h.apptainer(t, "instance", "stop", name), "instance stop")
			assertUnchanged(t, "after the risky instance stopped", before, h.snapshot(t))
		})
	}
}

// TestBootHostnetGuardSeesChanges turns the safeguards off (--keep-privs,
// the units unmasked) so the risky image does change the host, and checks
// that the guard reports it: the guard itself is proven.
func TestBootHostnetGuardSeesChanges(t *testing.T) {
	// A user namespace would refuse every change (hostnet_userns_test.go):
	// turn it off too, or there is nothing for the guard to see.
	withConf(t, "boot hostnet userns = no")
	img := stackedImage(t, bootImage(t), riskyLayer(t))
	for _, mode := range []string{"warn", "fail"} {
		t.Run(mode, func(t *testing.T) {
			h := newFakeHost(t)
			name := "unsafe-" + mode
			h.stopOnCleanup(t, name)
			// wait-online stays masked: it would hold the boot for minutes
			// waiting for links the fake host does not have.
			args := []string{"instance", "start", "--boot", "--boot-hostnet", "--keep-privs", "--boot-hostnet-guard", mode, "--boot-timeout", "45",
				"--boot-hostnet-unmask", "systemd-networkd.service,systemd-networkd.socket,networking.service,ifupdown-pre.service,systemd-sysctl.service,nftables.service",
				img, name}
			r := h.apptainer(t, args...)
			if mode == "warn" {
				mustSucceed(t, r, "start with the guard warning")
				if !strings.Contains(r.Stderr, "the host network changed") {
					t.Fatalf("the guard saw nothing:\n%s", r)
				}
				// Positive control of the masked firewall stand-in: unmasked,
				// it runs.
				if !standinRan(t, h, name) {
					t.Error("the unmasked firewall stand-in did not run")
				}
				diff := h.apptainer(t, "hostnet", "diff", "--json", name)
				if !strings.Contains(diff.Stdout, `"changes"`) || !strings.Contains(diff.Stdout, "ib0") {
					t.Errorf("hostnet diff --json: %s", diff)
				}
				mustSucceed(t, h.apptainer(t, "instance", "stop", name), "stop")
			} else {
				mustFail(t, r, "the host network changed")
				if monitorRunning(name) {
					t.Error("instance left running after the guard failed it")
				}
			}
			if !strings.Contains(r.Stderr, "ib0") {
				t.Errorf("the reported diff does not name ib0:\n%s", r.Stderr)
			}
		})
	}
}

// TestNetworkOverridesKit checks issue 5's promise: an image hardened with
// etc/network-overrides keeps the host unchanged even when the runtime's
// own safeguards are off, while the same image unhardened is reported risky.
func TestNetworkOverridesKit(t *testing.T) {
	// The kit is for runtimes without our safeguards: no user namespace.
	withConf(t, "boot hostnet userns = no")
	img := stackedImage(t, bootImage(t), riskyLayer(t))
	audit := apptainer(t, "hostnet", "audit", img)
	if audit.Code != 1 || !strings.Contains(audit.Stdout, "systemd-networkd") {
		t.Fatalf("audit of the risky image:\n%s", audit)
	}
	// Unhardened, with the runtime's safeguards off, the image does change
	// the host: this is what the kit has to prevent.
	unsafeArgs := []string{"--boot", "--boot-hostnet", "--keep-privs", "--boot-hostnet-guard", "off", "--boot-timeout", "45",
		"--boot-hostnet-unmask", strings.Join(policy.DefaultMaskedUnits(), ",")}
	{
		h := newFakeHost(t)
		before := h.snapshot(t)
		h.stopOnCleanup(t, "unhardened1")
		r := h.apptainer(t, append(append([]string{"instance", "start"}, unsafeArgs...), img, "unhardened1")...)
		if r.Code == 0 {
			waitBootSettled(t, h, "unhardened1")
			if !standinRan(t, h, "unhardened1") {
				t.Error("the firewall stand-in did not run in the unhardened image")
			}
			mustSucceed(t, h.apptainer(t, "instance", "stop", "unhardened1"), "stop the unhardened instance")
		} else {
			t.Logf("the unhardened image failed to boot (its changes are still looked for):\n%s", r)
		}
		if d := hostnet.Compare(before, h.snapshot(t)); d.Empty() {
			t.Fatalf("the unhardened image left the host unchanged with the safeguards off; the test proves nothing:\n%s", r)
		}
	}
	mustSucceed(t, apptainer(t, "hostnet", "harden", img), "hostnet harden")
	if audit = apptainer(t, "hostnet", "audit", img); audit.Code != 0 {
		t.Fatalf("audit after harden:\n%s", audit)
	}
	h := newFakeHost(t)
	before := h.snapshot(t)
	const name = "hardened1"
	h.stopOnCleanup(t, name)
	// Safeguards off: every capability kept, nothing masked by argv.
	r := h.apptainer(t, append(append([]string{"instance", "start"}, unsafeArgs...), img, name)...)
	mustSucceed(t, r, "boot of the hardened image with the safeguards off")
	if !strings.Contains(r.Stdout, name+": running") {
		t.Errorf("hardened image not running:\n%s", r)
	}
	waitBootSettled(t, h, name)
	// The stand-in is wanted and not masked: systemd checked its conditions
	// (a unit never started has no ConditionTimestamp) and the kit's
	// condition skipped it.
	cond := h.apptainer(t, "exec", "instance://"+name, "systemctl", "show", "-p", "ConditionResult", "-p", "ConditionTimestampMonotonic", "nftables.service")
	props := map[string]string{}
	for _, l := range lines(cond.Stdout) {
		k, v, _ := strings.Cut(l, "=")
		props[k] = v
	}
	if checked := props["ConditionTimestampMonotonic"]; props["ConditionResult"] != "no" || checked == "" || checked == "0" || standinRan(t, h, name) {
		t.Errorf("the kit did not skip the firewall stand-in:\n%s", cond)
	}
	assertUnchanged(t, "while the hardened instance runs", before, h.snapshot(t))
	mustSucceed(t, h.apptainer(t, "instance", "stop", name), "instance stop")
	assertUnchanged(t, "after the hardened instance stopped", before, h.snapshot(t))
	mustSucceed(t, apptainer(t, "hostnet", "harden", "--undo", img), "hostnet harden --undo")
	if audit = apptainer(t, "hostnet", "audit", img); audit.Code != 1 {
		t.Errorf("audit after undo:\n%s", audit)
	}
}

func TestBootHostnetRefusals(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--boot-hostnet"}, "--boot-hostnet requires --boot"},
		{[]string{"--boot", "--boot-hostnet", "--net"}, "cannot be combined with --net"},
		{[]string{"--boot", "--boot-hostnet", "--network", "bridge"}, "cannot be combined with --network"},
		{[]string{"--boot", "--boot-hostnet", "--network-args", "portmap=80/tcp"}, "cannot be combined with --network-args"},
		{[]string{"--boot", "--boot-hostnet", "--netns-path", "/proc/1/ns/net"}, "cannot be combined with --netns-path"},
		{[]string{"--boot", "--boot-hostnet", "--boot-hostnet-unmask", "sshd.service"}, "sshd.service"},
		{[]string{"--boot", "--boot-hostnet", "--boot-hostnet-guard", "loud"}, "invalid host-network guard mode"},
		{[]string{"--boot", "--boot-hostnet", "--boot-hostnet-userns=false"}, "--boot-hostnet-userns=false is not allowed"},
		{[]string{"--boot", "--boot-hostnet-userns=false"}, "--boot-hostnet-userns requires --boot-hostnet"},
	}
	for _, tt := range tests {
		r := h.apptainer(t, append(append([]string{"instance", "start"}, tt.args...), img, "refused2")...)
		mustFail(t, r, tt.want)
	}
	r := apptainerCmd(t, nil, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", env.Bin, "instance", "start", "--boot", "--boot-hostnet", img, "user2")
	mustFail(t, r, "user nobody is not allowed to boot instances on the host network")
	// The administrator can turn the feature off.
	withConf(t, "allow boot hostnet = no")
	mustFail(t, h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", img, "refused3"), "allow boot hostnet = no")
	if monitorRunning("refused2") || monitorRunning("refused3") {
		t.Error("a refused start left a monitor")
	}
}
