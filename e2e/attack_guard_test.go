//go:build e2e

package e2e

// Issue 14, finding 5: with the safeguards off (no user namespace,
// --keep-privs) root in the instance changes the host network in the ways
// the guard used not to see; each must show in `hostnet diff`.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/hostnet"
)

// hostIPLayer is an image layer with the host's ip and every library it
// needs in /usr/local/lib/hostip, run through the host's dynamic loader
// by /usr/local/bin/ip: the image has no iproute2.
func hostIPLayer(t *testing.T) string {
	t.Helper()
	ipBin, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("the host's ip: %v", err)
	}
	out, err := exec.Command("ldd", ipBin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", ipBin, err)
	}
	files := []string{ipBin}
	loader := ""
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			files = append(files, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			loader = filepath.Base(f[0])
			files = append(files, f[0])
		}
	}
	if loader == "" {
		t.Fatalf("no dynamic loader in the ldd output of %s:\n%s", ipBin, out)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, "usr/local/lib/hostip")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lib, filepath.Base(f)), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wrapper := "#!/bin/sh\nexec /usr/local/lib/hostip/" + loader + " --library-path /usr/local/lib/hostip /usr/local/lib/hostip/" + filepath.Base(ipBin) + ` "$@"` + "\n"
	if err := os.MkdirAll(filepath.Join(dir, "usr/local/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "usr/local/bin/ip"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// parseDiff decodes the output of hostnet diff --json.
func parseDiff(t *testing.T, out string) hostnet.Diff {
	t.Helper()
	var d hostnet.Diff
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("hostnet diff --json printed no diff (%v):\n%s", err, out)
	}
	return d
}

// hasChange reports whether the hostnet diff --json output out has a
// change of kind whose object (or value) contains what, and, when field
// is set, is about that field.
func hasChange(t *testing.T, out, kind, what, field string) bool {
	t.Helper()
	for _, c := range parseDiff(t, out).Changes {
		if c.Kind != kind || (field != "" && c.Field != field) {
			continue
		}
		if strings.Contains(c.Object, what) || strings.Contains(c.Before, what) || strings.Contains(c.After, what) {
			return true
		}
	}
	return false
}

// readSysctl reads a global sysctl of the machine.
func readSysctl(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestAttackGuardBlindSpots: each change root in an instance without a
// user namespace and with every privilege kept can make to the host and
// that the guard did not record before issue 14 is reported by hostnet
// diff.
func TestAttackGuardBlindSpots(t *testing.T) {
	img := linkedImage(t, bootImage(t), hostIPLayer(t))
	h := newFakeHost(t)
	const name = "guard-blind"
	startHostnet(t, h, "no-userns", img, name, "--keep-privs", "--boot-hostnet-guard=warn")
	// Positive control: right after the start the host is as recorded,
	// so every change below is the instance's.
	if d := h.apptainer(t, "hostnet", "diff", "--json", name); d.Code != 0 || !parseDiff(t, d.Stdout).Empty() {
		t.Fatalf("hostnet diff right after the start is not empty:\n%s", d)
	}
	if r := h.inInstance(t, name, "ip -o link show ib0"); r.Code != 0 || !strings.Contains(r.Stdout, "mtu 2044") {
		t.Fatalf("the host's ip does not run in the instance:\n%s", r)
	}
	// The global sysctls the attack changes belong to the machine, not to
	// the fake host: put them back whatever happens.
	sysctls := map[string]string{"kernel.printk_ratelimit": "", "vm.swappiness": ""}
	for k := range sysctls {
		sysctls[k] = readSysctl(t, k)
	}
	link := strings.Fields(h.output(t, "ip", "-o", "link", "show", "ib0"))
	i := indexOf(link, "qlen")
	if i < 0 || i+1 == len(link) {
		t.Fatalf("no qlen in the fake host's ip link show ib0: %v", link)
	}
	qlen := link[i+1]
	t.Cleanup(func() {
		for k, v := range sysctls {
			if err := os.WriteFile(filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/")), []byte(v+"\n"), 0o644); err != nil {
				t.Errorf("cleanup: cannot restore %s to %s: %v", k, v, err)
			}
		}
		for _, c := range [][]string{
			{"ip", "neigh", "del", "10.201.0.42", "dev", "ib0"},
			{"ip", "-6", "addrlabel", "del", "prefix", "2001:db8:42::/48", "label", "42"},
			{"ip", "nexthop", "del", "id", "4242"},
			{"ip", "link", "set", "dev", "ib0", "alias", ""},
			{"ip", "link", "set", "dev", "ib0", "txqueuelen", qlen},
			{"ip", "maddr", "del", "33:33:00:00:42:42", "dev", "ib0"},
			{"ip", "xfrm", "state", "flush"},
		} {
			// Some are gone already (the xfrm acquire state expires); what
			// counts is that nothing is left.
			a := h.nsenterArgs(c...)
			_ = exec.Command(a[0], a[1:]...).Run()
		}
		a := h.nsenterArgs("sh", "-c", "ip neigh show 10.201.0.42 dev ib0; ip -6 addrlabel | grep 2001:db8:42::; ip nexthop show id 4242 2>/dev/null; ip -o link show ib0 | grep alias; ip maddr show dev ib0 | grep 33:33:00:00:42:42; ip xfrm state")
		if out, _ := exec.Command(a[0], a[1:]...).Output(); strings.TrimSpace(string(out)) != "" {
			t.Errorf("cleanup: the fake host keeps what the attack made:\n%s", out)
		}
	})
	newValue := map[string]string{"kernel.printk_ratelimit": "7", "vm.swappiness": "13"}
	for k, v := range newValue {
		if sysctls[k] == v {
			newValue[k] = v + "1"
		}
	}
	changes := []struct {
		what, script     string
		kind, obj, field string
	}{
		{"a permanent neighbour entry", "ip neigh add 10.201.0.42 lladdr 02:00:00:00:42:42 dev ib0 nud permanent", hostnet.KindNeighbour, "10.201.0.42", ""},
		{"an IPv6 address label", "ip -6 addrlabel add prefix 2001:db8:42::/48 label 42", hostnet.KindAddrLabel, "2001:db8:42::/48", ""},
		{"a nexthop object", "ip nexthop add id 4242 dev ib0", hostnet.KindNexthop, "4242", ""},
		{"a link alias", "ip link set dev ib0 alias e2e-attack", hostnet.KindLink, "ib0", "alias"},
		{"txqueuelen", "ip link set dev ib0 txqueuelen 5000", hostnet.KindLink, "ib0", "txqlen"},
		{"a static multicast address", "ip maddr add 33:33:00:00:42:42 dev ib0", hostnet.KindMulticast, "33:33:00:00:42:42", ""},
		{"kernel.printk_ratelimit through a procfs of its own", "mkdir -p /run/kp && mount -t proc proc /run/kp && echo " + newValue["kernel.printk_ratelimit"] + " > /run/kp/sys/kernel/printk_ratelimit; r=$?; umount /run/kp; exit $r", hostnet.KindSysctl, "kernel.printk_ratelimit", ""},
		{"vm.swappiness through a procfs of its own", "mkdir -p /run/kp && mount -t proc proc /run/kp && echo " + newValue["vm.swappiness"] + " > /run/kp/sys/vm/swappiness; r=$?; umount /run/kp; exit $r", hostnet.KindSysctl, "vm.swappiness", ""},
		// Last: the state allocspi makes is an acquire state, which the
		// kernel drops after net.core.xfrm_acq_expires (30 s).
		{"an xfrm state", "ip xfrm state allocspi src 10.201.0.2 dst 10.201.0.1 proto esp min 0x4200 max 0x4242", hostnet.KindXfrmState, "10.201.0.1", ""},
	}
	for _, c := range changes {
		mustSucceed(t, h.inInstance(t, name, c.script), "making "+c.what+" from the instance")
	}
	for k, v := range newValue {
		if got := readSysctl(t, k); got != v {
			t.Errorf("%s is %s after the instance wrote %s", k, got, v)
		}
	}
	diff := h.apptainer(t, "hostnet", "diff", "--json", name)
	if diff.Code != 1 {
		t.Errorf("hostnet diff exits %d after the changes, want 1 (changed):\n%s", diff.Code, diff)
	}
	for _, c := range changes {
		if !hasChange(t, diff.Stdout, c.kind, c.obj, c.field) {
			t.Errorf("hostnet diff does not report %s (want a %q change of %q, field %q)", c.what, c.kind, c.obj, c.field)
		}
	}
	t.Logf("hostnet diff:\n%s", h.apptainer(t, "hostnet", "diff", name).Stdout)
}
