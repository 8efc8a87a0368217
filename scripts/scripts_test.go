// Package scripts_test runs the build and test-bed shell scripts the way
// users and CI do, and checks what they leave behind: mconfig's build
// configuration (under dash, as the strictest POSIX sh at hand) and
// fakehost.sh's throwaway network namespaces.
package scripts_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run runs a script from the repository root and returns its combined
// output and exit code.
func run(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("failed to run %s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

func TestMconfigWritesConfig(t *testing.T) {
	if _, err := exec.LookPath("dash"); err != nil {
		t.Skip("dash is not installed")
	}
	dir := filepath.Join(t.TempDir(), "build")
	out, code := run(t, "dash", "./mconfig", "-b", dir, "--prefix=/opt/app", "--sysconfdir", "/etc", "-V", "1.2.3")
	if code != 0 {
		t.Fatalf("mconfig exited %d:\n%s", code, out)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "config.mk"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"VERSION":       "1.2.3",
		"PREFIX":        "/opt/app",
		"BINDIR":        "/opt/app/bin",
		"SYSCONFDIR":    "/etc",
		"LOCALSTATEDIR": "/opt/app/var",
		"LIBEXECDIR":    "/opt/app/libexec",
		"MANDIR":        "/opt/app/share/man",
		"DATADIR":       "/opt/app/share",
		"BUILDDIR":      dir,
	}
	for name, value := range want {
		re := regexp.MustCompile(`(?m)^` + name + `\s+:= ` + regexp.QuoteMeta(value) + `$`)
		if !re.Match(conf) {
			t.Errorf("config.mk does not set %s := %s:\n%s", name, value, conf)
		}
	}
	mk, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mk, []byte("include $(SRCDIR)/mk/build.mk")) {
		t.Errorf("Makefile does not include the build rules:\n%s", mk)
	}

	// Configuring the same build directory again is allowed.
	if out, code := run(t, "dash", "./mconfig", "-b", dir); code != 0 {
		t.Errorf("re-running mconfig on its own build directory exited %d:\n%s", code, out)
	}
}

func TestMconfigRejects(t *testing.T) {
	if _, err := exec.LookPath("dash"); err != nil {
		t.Skip("dash is not installed")
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "precious"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"relative prefix", []string{"--prefix=usr"}, "must be an absolute path"},
		{"blank in a path", []string{"--bindir", "/opt/my bin"}, "contains a blank"},
		{"missing value", []string{"--prefix"}, "needs a value"},
		{"unknown option", []string{"--with-foo"}, `unknown option "--with-foo"`},
		{"bad version", []string{"-V", "1.0;rm"}, "may only hold"},
		{"foreign build dir", []string{"-b", foreign}, "is not an apptainer build directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"./mconfig", "-b", filepath.Join(t.TempDir(), "b")}, tt.args...)
			out, code := run(t, "dash", args...)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Errorf("mconfig %q: exit %d, output %q; want a failure saying %q", tt.args, code, out, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(foreign, "Makefile")); err == nil {
		t.Error("mconfig wrote a Makefile into a foreign directory")
	}
}

func TestE2EImageKeyIsStable(t *testing.T) {
	a, code := run(t, "scripts/e2e-image.sh", "--key")
	if code != 0 {
		t.Fatalf("e2e-image.sh --key exited %d: %s", code, a)
	}
	b, code := run(t, "scripts/e2e-image.sh", "--key")
	if code != 0 {
		t.Fatalf("e2e-image.sh --key exited %d the second time: %s", code, b)
	}
	if a != b || !regexp.MustCompile(`^[0-9a-f]{16}\n$`).MatchString(a) {
		t.Errorf("keys %q and %q: want the same 16 hex digits twice", a, b)
	}
}

// TestPackageVersion checks how build-package.sh turns a source version
// into a dpkg and rpm version: pre-releases sort before their release,
// builds after a tag after it, and what neither tool accepts is refused.
func TestPackageVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.2.3", "1.2.3"},
		{"0.1.0-dev", "0.1.0~dev"},
		{"1.2.3-rc.1", "1.2.3~rc.1"},
		{"1.2.3-rc-2", "1.2.3~rc.2"},
		{"1.2.3-4-gabc123", "1.2.3+4.gabc123"},
		{"1.2.3-4-gabc123-dirty", "1.2.3+4.gabc123.dirty"},
		{"1.2.3-dirty", "1.2.3+dirty"},
		{"x1.0", ""},
		{"1.0 beta", ""},
		{"1.0/../x", ""},
		{"-1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		out, code := run(t, "scripts/build-package.sh", "--pkg-version", tt.in)
		switch {
		case tt.want == "" && (code == 0 || !strings.Contains(out, "cannot make a package version")):
			t.Errorf("%q: exit %d, %q; want a refusal", tt.in, code, out)
		case tt.want != "" && (code != 0 || out != tt.want+"\n"):
			t.Errorf("%q: exit %d, %q; want %q", tt.in, code, out, tt.want)
		}
	}
}

// TestBuildPackageRefusesUnknownKind: a typo fails at once, before any
// copy of the tree is made.
func TestBuildPackageRefusesUnknownKind(t *testing.T) {
	tmp := t.TempDir()
	out, code := run(t, "env", "TMPDIR="+tmp, "scripts/build-package.sh", "apk", filepath.Join(tmp, "out"))
	if code == 0 || !strings.Contains(out, `unknown package kind "apk"`) {
		t.Errorf("exit %d, %q; want a refusal naming the kind", code, out)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("a refused build left %d entries in TMPDIR", len(left))
	}
}

// TestFakehost makes a fake host, checks the network it promises, and
// checks that down removes it and that the real namespace's links did not
// change.
func TestFakehost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	name := fmt.Sprintf("aptfh%d", os.Getpid())
	realLinks := links(t)
	t.Cleanup(func() { run(t, "scripts/fakehost.sh", "down", name) })

	if out, code := run(t, "scripts/fakehost.sh", "up", name); code != 0 {
		t.Fatalf("fakehost.sh up exited %d:\n%s", code, out)
	}
	if out, code := run(t, "scripts/fakehost.sh", "up", name); code == 0 || !strings.Contains(out, "already exists") {
		t.Errorf("a second up: exit %d, %q; want a failure saying it already exists", code, out)
	}

	checks := []struct{ args, want string }{
		{"-o addr show dev eth0", "inet 10.200.0.2/24"},
		{"-o link show dev ib0", "mtu 2044"},
		{"-o addr show dev ib0", "inet 10.201.0.2/24"},
		{"route show default", "default via 10.200.0.1 dev eth0"},
		{"route show table 100", "default via 10.201.0.1 dev ib0"},
		{"rule show", "from 10.201.0.0/24 lookup 100"},
	}
	for _, c := range checks {
		out, err := exec.Command("ip", append([]string{"-n", name}, strings.Fields(c.args)...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("ip -n %s %s: %q (%v); want %q", name, c.args, out, err, c.want)
		}
	}

	snap1, code := run(t, "scripts/fakehost.sh", "snap", name)
	if code != 0 {
		t.Fatalf("snap exited %d:\n%s", code, snap1)
	}
	for _, want := range []string{"tcp dport 9 drop", "nameserver 10.200.0.1", "ib0@"} {
		if !strings.Contains(snap1, want) {
			t.Errorf("snapshot lacks %q", want)
		}
	}
	if snap2, code := run(t, "scripts/fakehost.sh", "snap", name); code != 0 || snap1 != snap2 {
		t.Errorf("two snapshots of an unchanged fake host differ (second exit %d)", code)
	}
	// A change must show: that is what the demo's guard relies on.
	if out, err := exec.Command("ip", "-n", name, "link", "set", "ib0", "mtu", "1500").CombinedOutput(); err != nil {
		t.Fatalf("ip link set: %v: %s", err, out)
	}
	snap3, code := run(t, "scripts/fakehost.sh", "snap", name)
	if code != 0 {
		t.Fatalf("snap after the change exited %d:\n%s", code, snap3)
	}
	if snap3 == snap1 || !regexp.MustCompile(`(?m)^ib0\S*: <[^>]*> mtu 1500 `).MatchString(snap3) {
		t.Errorf("the snapshot did not change with ib0's MTU:\n%s", snap3)
	}

	if out, code := run(t, "scripts/fakehost.sh", "down", name); code != 0 {
		t.Fatalf("fakehost.sh down exited %d:\n%s", code, out)
	}
	for _, ns := range []string{name, name + "-lan"} {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("network namespace %s is still there after down", ns)
		}
	}
	if _, err := os.Stat("/run/apptainer-fakehost/" + name); err == nil {
		t.Errorf("/run/apptainer-fakehost/%s is still there after down", name)
	}
	if after := links(t); after != realLinks {
		t.Errorf("the real namespace's links changed:\nbefore:\n%s\nafter:\n%s", realLinks, after)
	}
}

// links lists the real namespace's links without their counters.
func links(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip link: %v", err)
	}
	return string(out)
}
