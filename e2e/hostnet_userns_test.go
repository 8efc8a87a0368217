//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// usernsLayer holds units that try what masks and dropped capabilities
// alone cannot stop, plus units whose sandboxing must keep working.
func usernsLayer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	unit := func(name, body string) {
		p := filepath.Join(dir, "etc/systemd/system", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".service") || strings.HasSuffix(name, ".socket") {
			target := "multi-user.target.wants"
			if strings.HasSuffix(name, ".socket") {
				target = "sockets.target.wants"
			}
			link := filepath.Join(dir, "etc/systemd/system", target, name)
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc/systemd/system/"+name, link); err != nil {
				t.Fatal(err)
			}
		}
	}
	oneshot := "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
	unit("sysctl-protectproc.service", oneshot+"ProtectProc=invisible\nExecStart=/bin/sh -c 'echo 1 > /proc/sys/net/ipv4/conf/ib0/accept_local'\n[Install]\nWantedBy=multi-user.target\n")
	unit("sysctl-ownproc.service", oneshot+"ExecStart=/bin/sh -c 'mkdir -p /run/ownproc && mount -t proc proc /run/ownproc && echo 2 > /run/ownproc/sys/net/ipv4/conf/ib0/rp_filter'\n[Install]\nWantedBy=multi-user.target\n")
	unit("iplink.service", oneshot+"ExecStart=/bin/sh -c 'ip link set ib0 mtu 4000 && ip addr add 10.201.0.99/24 dev ib0'\n[Install]\nWantedBy=multi-user.target\n")
	unit("bind53.socket", "[Socket]\nListenStream=0.0.0.0:53\n[Install]\nWantedBy=sockets.target\n")
	unit("bind53.service", "[Service]\nExecStart=/bin/sleep infinity\n")
	unit("dynuser.service", "[Service]\nDynamicUser=yes\nExecStart=/bin/sh -c 'id -u > /tmp/dynuser-id; exec sleep infinity'\nPrivateTmp=no\n[Install]\nWantedBy=multi-user.target\n")
	unit("tmpfs-fs.service", "[Service]\nTemporaryFileSystem=/var/lib\nExecStart=/bin/sh -c 'touch /var/lib/scratch && exec sleep infinity'\n[Install]\nWantedBy=multi-user.target\n")
	return dir
}

// linkedImage makes a sandbox of img plus layer as a hard-linked copy:
// overlayfs cannot be idmapped, so stackedImage does not serve here. Files
// of the layer replace links (never writing through them into the cache).
func linkedImage(t *testing.T, img, layer string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-al", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("cp -al: %v %s", err, out)
	}
	if out, err := exec.Command("cp", "-a", "--remove-destination", layer+"/.", dir+"/").CombinedOutput(); err != nil {
		t.Fatalf("cp layer: %v %s", err, out)
	}
	return dir
}

var expectedFailures = []string{"bind53.socket", "iplink.service", "sysctl-ownproc.service", "sysctl-protectproc.service"}

func TestBootHostnetUserNamespace(t *testing.T) {
	img := linkedImage(t, bootImage(t), usernsLayer(t))
	h := newFakeHost(t)
	before := h.snapshot(t)
	hostDir := filepath.Join(t.TempDir(), "home1000")
	if err := os.Mkdir(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{hostDir, filepath.Join(hostDir, "data")} {
		if err := os.Chown(p, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	h.stopOnCleanup(t, "userns1")
	r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", "--bind", hostDir+":/srv/home1000:ro", "--bind", hostDir+":/srv/rw1000", img, "userns1")
	mustSucceed(t, r, "boot in a user namespace")
	if !strings.Contains(r.Stderr, "user namespace") && !strings.Contains(r.Stdout, "user namespace") {
		t.Errorf("start does not say which mode is in effect:\n%s", r)
	}
	waitBootSettled(t, h, "userns1")
	// degraded, for exactly the units that tried to change the host.
	failed := strings.TrimSpace(h.apptainer(t, "exec", "instance://userns1", "systemctl", "list-units", "--state=failed", "--plain", "--no-legend", "--no-pager").Stdout)
	var names []string
	for _, line := range strings.Split(failed, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	sort.Strings(names)
	if strings.Join(names, " ") != strings.Join(expectedFailures, " ") {
		t.Errorf("failed units %v, want exactly %v", names, expectedFailures)
	}
	for _, u := range []string{"dynuser.service", "tmpfs-fs.service"} {
		if st := h.apptainer(t, "exec", "instance://userns1", "systemctl", "is-active", u); strings.TrimSpace(st.Stdout) != "active" {
			t.Errorf("%s is %q; sandboxed units must keep working", u, st.Stdout)
		}
	}
	inst := getInstance(t, "userns1")
	uidMap := strings.Fields(h.apptainer(t, "exec", "instance://userns1", "cat", "/proc/self/uid_map").Stdout)
	if len(uidMap) != 3 || uidMap[0] != "0" || uidMap[2] != "65536" {
		t.Fatalf("uid_map inside: %v", uidMap)
	}
	base, err := strconv.ParseUint(uidMap[1], 10, 32)
	if err != nil {
		t.Fatalf("uid_map inside %v: %v", uidMap, err)
	}
	if base == 0 {
		t.Fatal("the map includes host uid 0")
	}
	// Real, effective, saved and file system uid of PID 1, seen from the
	// host: all the first id of the range.
	if uids := strings.Fields(statusField(t, inst.Pid, "Uid")); len(uids) != 4 || slices.ContainsFunc(uids, func(u string) bool { return u != uidMap[1] }) {
		t.Errorf("PID 1 runs as host uids %v, want %d for all four", uids, base)
	}
	owner := h.apptainer(t, "exec", "instance://userns1", "stat", "-c", "%u:%g", "/srv/home1000/data")
	if strings.TrimSpace(owner.Stdout) != "1000:1000" {
		t.Errorf("a host file of uid 1000 shows as %q inside", owner.Stdout)
	}
	// A read-write bind is not idmapped: the instance's ids are its own
	// host ids there, and a host file of uid 1000 is nobody's inside.
	if rw := h.apptainer(t, "exec", "instance://userns1", "stat", "-c", "%u:%g", "/srv/rw1000/data"); strings.TrimSpace(rw.Stdout) != "65534:65534" {
		t.Errorf("a host file of uid 1000 shows as %q through a read-write bind, want 65534:65534 (nobody)", rw.Stdout)
	}
	// A second instance gets a disjoint range.
	h.stopOnCleanup(t, "userns2")
	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", bootImage(t), "userns2"), "second instance")
	other := strings.Fields(h.apptainer(t, "exec", "instance://userns2", "cat", "/proc/self/uid_map").Stdout)
	if len(other) != 3 || other[0] != "0" || other[2] != "65536" {
		t.Fatalf("uid_map of the second instance: %v", other)
	}
	b2, err := strconv.ParseUint(other[1], 10, 32)
	if err != nil || b2 == 0 {
		t.Fatalf("uid_map of the second instance %v: host uid %d (%v)", other, b2, err)
	}
	if b2 < base+65536 && base < b2+65536 {
		t.Errorf("ranges overlap: %d and %d", base, b2)
	}
	waitBootSettled(t, h, "userns2")
	assertUnchanged(t, "while the user-namespaced instances run", before, h.snapshot(t))
	// Each instance holds an id range (a slot file besides .lock) while it
	// runs, and gives it back when it stops.
	if slots := idSlots(t); len(slots) < 2 {
		t.Errorf("id range slots while two instances run: %v, want at least 2", slots)
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", "userns1"), "stop")
	mustSucceed(t, h.apptainer(t, "instance", "stop", "userns2"), "stop")
	assertUnchanged(t, "after stop", before, h.snapshot(t))
	if slots := idSlots(t); len(slots) > 0 {
		t.Errorf("id ranges still allocated: %v", slots)
	}
}

// idSlots lists the allocated id ranges of user-namespaced instances: the
// slot files of /run/apptainer/userns.
func idSlots(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, n := range dirNames(t, "/run/apptainer/userns") {
		if n != ".lock" {
			out = append(out, n)
		}
	}
	return out
}

func TestBootHostnetUserNamespaceSIF(t *testing.T) {
	sif := testSIF(t)
	h := newFakeHost(t)
	before := h.snapshot(t)
	h.stopOnCleanup(t, "usif1")
	r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", sif, "usif1")
	mustSucceed(t, r, "boot a SIF in a user namespace")
	if !strings.Contains(r.Stdout, "usif1: running") {
		t.Errorf("not running:\n%s", r)
	}
	uidMap := strings.Fields(h.apptainer(t, "exec", "instance://usif1", "cat", "/proc/self/uid_map").Stdout)
	if len(uidMap) != 3 || uidMap[0] != "0" || uidMap[2] != "65536" {
		t.Errorf("uid_map: %v", uidMap)
	} else if b, err := strconv.ParseUint(uidMap[1], 10, 32); err != nil || b == 0 {
		t.Errorf("uid_map %v: host uid %d (%v)", uidMap, b, err)
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", "usif1"), "stop")
	assertUnchanged(t, "after the SIF instance", before, h.snapshot(t))
	assertNoLoop(t, sif)
}
