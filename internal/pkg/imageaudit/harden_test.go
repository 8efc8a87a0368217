package imageaudit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/hostnet/policy"
)

// riskyImage enables a bit of everything the audit knows about.
func riskyImage(t *testing.T) string {
	t.Helper()
	tr := tree{
		"lib": "->usr/lib",
		"usr/lib/systemd/system/systemd-networkd.socket":                     "[Socket]\nListenNetlink=route 1361\n",
		"usr/lib/systemd/system/systemd-udevd.service":                       svc(""),
		"usr/lib/systemd/system/sysinit.target.wants/systemd-udevd.service":  "->../systemd-udevd.service",
		"usr/lib/systemd/system/systemd-sysctl.service":                      svc(""),
		"usr/lib/systemd/system/sysinit.target.wants/systemd-sysctl.service": "->../systemd-sysctl.service",
		"usr/lib/systemd/system/ifup@.service":                               svc(""),
		"usr/lib/systemd/system/wicked.service":                              svc(""),
		"usr/lib/systemd/system/dhclient@.service":                           svc(""),
		etcSysd + "sockets.target.wants/systemd-networkd.socket":             "->/lib/systemd/system/systemd-networkd.socket",
		etcSysd + "dbus-org.freedesktop.network1.service":                    "->/lib/systemd/system/systemd-networkd.service",
		etcSysd + "network-online.target.wants/wicked.service":               "->/lib/systemd/system/wicked.service",
		etcSysd + "multi-user.target.wants/dhclient@eth0.service":            "->/lib/systemd/system/dhclient@.service",
		etcSysd + "multi-user.target.wants/ifup@eth1.service":                "->/lib/systemd/system/ifup@.service",
		etcSysd + "systemd-timesyncd.service":                                "->/dev/null",
		"etc/systemd/network/10-ib0.network":                                 "[Match]\nName=ib0\n[Network]\nAddress=10.0.0.7/24\n",
		"etc/network/interfaces":                                             "auto eth0\niface eth0 inet dhcp\n",
		"etc/NetworkManager/system-connections/ib0.nmconnection":             "[connection]\nid=ib0\ntype=infiniband\n",
		"etc/sysctl.d/60-net.conf":                                           "net.ipv4.ip_forward=1\n",
		"etc/udev/rules.d/70-persistent-net.rules":                           `SUBSYSTEM=="net", NAME="lan0"` + "\n",
		"usr/lib/udev/rules.d/80-net-setup-link.rules":                       "IMPORT{builtin}=\"net_setup_link\"\n",
		"etc/systemd/system/NetworkManager.service.d/10-site.conf":           "[Service]\nEnvironment=X=1\n",
	}
	for _, u := range maskedUnits(t) {
		if _, ok := tr["usr/lib/systemd/system/"+u]; !ok {
			tr["usr/lib/systemd/system/"+u] = svc("")
			tr[etcSysd+"multi-user.target.wants/"+u] = "->/lib/systemd/system/" + u
		}
	}
	return newImage(t, tr)
}

func mustHarden(t *testing.T, root string) *HardenResult {
	t.Helper()
	res, err := Harden(root)
	if err != nil {
		t.Fatalf("Harden: %v", err)
	}
	return res
}

func TestHardenMakesTheAuditClean(t *testing.T) {
	root := riskyImage(t)
	before := mustAudit(t, root)
	if before.Clean() || before.Risky < len(policy.DefaultMaskedUnits())-1 {
		t.Fatalf("the test image should be risky for every unit: %d risky", before.Risky)
	}
	res := mustHarden(t, root)
	if len(res.Kept) != 0 {
		t.Errorf("kept: %q", res.Kept)
	}
	if want := []string{"dhclient@.service", "wicked.service"}; strings.Join(res.Extra, ",") != strings.Join(want, ",") {
		t.Errorf("extra units %q, want %q", res.Extra, want)
	}
	after := mustAudit(t, root)
	if !after.Clean() || after.Notices != 0 {
		t.Fatalf("audit after harden: %d risky, %d notices: %q", after.Risky, after.Notices, subjects(after))
	}
	if got, want := len(after.Neutralized), len(policy.DefaultMaskedUnits())+2; got != want {
		t.Errorf("%d units neutralized, want %d", got, want)
	}
	for _, f := range KitFiles() {
		data, err := os.ReadFile(filepath.Join(root, f.Path))
		if err != nil || string(data) != string(f.Content) {
			t.Errorf("kit file %s not installed as generated: %v", f.Path, err)
		}
	}
	m, err := os.ReadFile(filepath.Join(root, ManifestPath))
	if err != nil {
		t.Fatal(err)
	}
	// The image held none of the kit's files: each one is added, and a
	// drop-in for each of the two extra units.
	wantAdded := []string{etcSysd + "dhclient@.service.d/" + DropInName, etcSysd + "wicked.service.d/" + DropInName}
	for _, f := range KitFiles() {
		wantAdded = append(wantAdded, f.Path)
	}
	if len(res.Added) != len(wantAdded) {
		t.Errorf("harden added %d files, want %d: %q", len(res.Added), len(wantAdded), res.Added)
	}
	for _, p := range wantAdded {
		if !slices.Contains(res.Added, "/"+p) {
			t.Errorf("harden does not report adding /%s", p)
		}
	}
	for _, p := range res.Added {
		if !strings.Contains(string(m), `"`+strings.TrimPrefix(p, "/")+`"`) {
			t.Errorf("manifest does not record %s", p)
		}
	}
}

func TestHardenIsIdempotent(t *testing.T) {
	root := riskyImage(t)
	mustHarden(t, root)
	once := snapshot(t, root)
	res := mustHarden(t, root)
	if len(res.Added) != 0 || len(res.Kept) != 0 {
		t.Errorf("second harden added %q, kept %q", res.Added, res.Kept)
	}
	if d := diffSnapshots(once, snapshot(t, root)); len(d) != 0 {
		t.Fatalf("second harden changed the tree:\n%s", strings.Join(d, "\n"))
	}
}

func TestUndoRestoresTheOriginalTree(t *testing.T) {
	root := riskyImage(t)
	orig := snapshot(t, root)
	mustHarden(t, root)
	if d := diffSnapshots(orig, snapshot(t, root)); len(d) == 0 {
		t.Fatal("harden changed nothing")
	}
	res, err := Undo(root)
	if err != nil {
		t.Fatalf("Undo: %v", err)
	}
	if len(res.KeptDirs) != 0 {
		t.Errorf("kept dirs: %q", res.KeptDirs)
	}
	if d := diffSnapshots(orig, snapshot(t, root)); len(d) != 0 {
		t.Fatalf("undo did not restore the tree:\n%s", strings.Join(d, "\n"))
	}
	again, err := Undo(root)
	if err != nil || !again.Nothing {
		t.Errorf("second Undo = %+v, %v; want nothing to do", again, err)
	}
}

func TestHardenKeepsExistingFiles(t *testing.T) {
	custom := "[Unit]\nDescription=admin's own\n"
	root := newImage(t, tree{
		etcSysd + "systemd-networkd.service.d/" + DropInName: custom,
		"etc/udev/rules.d/80-net-setup-link.rules":           "->/dev/null",
		etcSysd + "NetworkManager.service.d/" + DropInName:   ours,
	})
	res := mustHarden(t, root)
	wantKept := map[string]bool{
		"/etc/systemd/system/systemd-networkd.service.d/" + DropInName: true,
		"/etc/systemd/system/NetworkManager.service.d/" + DropInName:   true,
		"/etc/udev/rules.d/80-net-setup-link.rules":                    true,
	}
	if len(res.Kept) != len(wantKept) {
		t.Errorf("kept %q", res.Kept)
	}
	for _, k := range res.Kept {
		if !wantKept[k] {
			t.Errorf("unexpectedly kept %s", k)
		}
	}
	data, _ := os.ReadFile(filepath.Join(root, etcSysd+"systemd-networkd.service.d/"+DropInName))
	if string(data) != custom {
		t.Errorf("harden overwrote an existing file: %q", data)
	}
	if _, err := Undo(root); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{etcSysd + "systemd-networkd.service.d/" + DropInName, etcSysd + "NetworkManager.service.d/" + DropInName, "etc/udev/rules.d/80-net-setup-link.rules"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("undo removed %s, which harden did not add: %v", p, err)
		}
	}
}

func TestUndoRefusesChangedFiles(t *testing.T) {
	root := riskyImage(t)
	mustHarden(t, root)
	edited := filepath.Join(root, etcSysd+"rdma.service.d", DropInName)
	if err := os.WriteFile(edited, []byte("[Unit]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	_, err := Undo(root)
	if err == nil || !strings.Contains(err.Error(), "/etc/systemd/system/rdma.service.d/"+DropInName) {
		t.Fatalf("Undo error = %v, want it to name the edited file", err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) != 0 {
		t.Fatalf("a refused undo changed the tree:\n%s", strings.Join(d, "\n"))
	}
}

func TestUndoRejectsAManifestThatLeavesTheImage(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel("/", victim)
	for _, line := range []string{
		`file "../../../../../../../..` + victim + `" ` + contentHash(nil),
		`file "/` + rel + `" ` + contentHash(nil),
		`dir ".."`,
	} {
		root := newImage(t, tree{"etc/apptainer-hostnet-overrides.manifest": manifestHeader + "\n" + line + "\n"})
		if _, err := Undo(root); err == nil {
			t.Errorf("Undo accepted manifest line %s", line)
		}
		if _, err := os.Stat(victim); err != nil {
			t.Fatalf("Undo removed a file outside the image: %v", err)
		}
	}
}

func TestHardenFollowsLinksInsideTheImage(t *testing.T) {
	outside := t.TempDir()
	root := newImage(t, tree{
		"etc/systemd/system": "->/usr/lib/etc-units",
		"usr/lib/etc-units/": "",
		"etc/udev":           "->" + outside,
	})
	// The link's target is looked up inside the image, where it does not
	// exist yet: harden stops there, writes nothing outside, and records
	// what it did write so that undo still works.
	orig := snapshot(t, root)
	if _, err := Harden(root); err == nil || !strings.Contains(err.Error(), "dangles") {
		t.Fatalf("Harden through a dangling link: %v", err)
	}
	if ents := readDir(t, outside); len(ents) != 0 {
		t.Fatalf("harden wrote outside the image: %v", ents)
	}
	if _, err := Undo(root); err != nil {
		t.Fatal(err)
	}
	if d := diffSnapshots(orig, snapshot(t, root)); len(d) != 0 {
		t.Fatalf("undo after a failed harden left changes:\n%s", strings.Join(d, "\n"))
	}

	writeTree(t, root, tree{strings.TrimPrefix(outside, "/") + "/": ""})
	mid := snapshot(t, root)
	mustHarden(t, root)
	if _, err := os.Stat(filepath.Join(root, "usr/lib/etc-units/systemd-networkd.service.d", DropInName)); err != nil {
		t.Errorf("drop-in not written through the in-image link: %v", err)
	}
	if ents := readDir(t, outside); len(ents) != 0 {
		t.Fatalf("harden wrote outside the image: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(root, outside, "rules.d/80-net-setup-link.rules")); err != nil {
		t.Errorf("udev override not written at the link's in-image target: %v", err)
	}
	if !mustAudit(t, root).Clean() {
		t.Errorf("audit not clean")
	}
	if _, err := Undo(root); err != nil {
		t.Fatal(err)
	}
	if d := diffSnapshots(mid, snapshot(t, root)); len(d) != 0 {
		t.Fatalf("undo did not restore the tree:\n%s", strings.Join(d, "\n"))
	}
}

// readDir lists dir and fails the test when it cannot: a directory that
// is gone or unreadable must not pass for an empty one.
func readDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

func TestCheckSandboxRefusesTheHostRoot(t *testing.T) {
	link := filepath.Join(t.TempDir(), "root")
	if err := os.Symlink("/", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", link} {
		if err := checkSandbox(p); err == nil || !strings.Contains(err.Error(), "host's root") {
			t.Errorf("checkSandbox(%q) = %v, want a refusal", p, err)
		}
	}
}

func TestHardenGivesNewFilesTheImageOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create files owned by another user")
	}
	root := newImage(t, tree{etcSysd: ""})
	for _, p := range []string{"etc", "etc/systemd", "etc/systemd/system"} {
		if err := os.Chown(filepath.Join(root, p), 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	mustHarden(t, root)
	for _, p := range []string{etcSysd + "ifup@.service.d", etcSysd + "ifup@.service.d/" + DropInName, "etc/udev", strings.TrimPrefix(ManifestPath, "/")} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s owned by %d:%d, want 1234:5678", p, st.Uid, st.Gid)
		}
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := newManifest()
	m.addDir("etc/b")
	m.addDir("etc/a")
	m.addDir("etc/a")
	m.Files["etc/a/x.conf"] = contentHash([]byte("x"))
	m.Files["etc/b/with space"] = contentHash([]byte("y"))
	back, err := parseManifest(m.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if string(back.marshal()) != string(m.marshal()) || len(back.Dirs) != 2 || len(back.Files) != 2 {
		t.Fatalf("round trip changed the manifest:\n%s\n%s", m.marshal(), back.marshal())
	}
	for _, bad := range []string{"", "# other format\n", manifestHeader + "\nfile \"a\" md5:1\n", manifestHeader + "\nlink \"a\"\n", manifestHeader + "\nfile a sha256:1\n"} {
		if _, err := parseManifest([]byte(bad)); err == nil {
			t.Errorf("parseManifest accepted %q", bad)
		}
	}
}
