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

// slurmNodeRole writes the slurm-node-role script that examples/slurm/slurm.def
// installs into its image (the heredoc between <<'ROLE' and ROLE) into dir,
// with stand-ins for the two programs it calls: hostname, which answers
// host, and scontrol, which expands the one host list the table uses.
func slurmNodeRole(t *testing.T, dir, host string) string {
	t.Helper()
	def, err := os.ReadFile("../examples/slurm/slurm.def")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)<<'ROLE'\n(.*?)\nROLE\n`).FindSubmatch(def)
	if m == nil {
		t.Fatal("examples/slurm/slurm.def has no slurm-node-role heredoc")
	}
	files := map[string]string{
		"slurm-node-role": string(m[1]) + "\n",
		"hostname":        "#!/bin/sh\n[ \"$1\" = -s ] || exit 9\necho " + host + "\n",
		"scontrol": "#!/bin/sh\n[ \"$1 $2\" = 'show hostnames' ] || exit 9\n" +
			"case \"$3\" in 'node[1-2]') printf 'node1\\nnode2\\n' ;; *) echo \"$3\" ;; esac\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "slurm-node-role")
}

// TestSlurmNodeRole: the image's slurmctld runs where the host name is a
// SlurmctldHost of slurm.conf and slurmd where it is in a NodeName list;
// the other unit is skipped (exit 1), a wrong call is an error (exit 2).
func TestSlurmNodeRole(t *testing.T) {
	const demo = "ClusterName=demo\nSlurmctldHost=head\nNodeName=node[1-2] CPUs=1 State=UNKNOWN\n"
	tests := []struct {
		name, conf, host, role string
		want                   int
	}{
		{"head is the controller", demo, "head", "controller", 0},
		{"head is no compute node", demo, "head", "compute", 1},
		{"node1 computes", demo, "node1", "compute", 0},
		{"node2 computes", demo, "node2", "compute", 0},
		{"node2 is no controller", demo, "node2", "controller", 1},
		{"node3 is not in the list", demo, "node3", "compute", 1},
		{"a prefix of the name is not the name", demo, "hea", "controller", 1},
		{"an address after the name", "SlurmctldHost=head(10.0.0.1)\n", "head", "controller", 0},
		{"a backup controller", "SlurmctldHost=head\nSlurmctldHost=head2\n", "head2", "controller", 0},
		{"keys are case-insensitive", "slurmctldhost = head\nnodename=gpu1 CPUs=8\n", "gpu1", "compute", 0},
		{"a commented line counts for nothing", "#SlurmctldHost=head\n#NodeName=head\n", "head", "controller", 1},
		{"NodeName=DEFAULT names no node", "NodeName=DEFAULT CPUs=2\nNodeName=gpu1\n", "DEFAULT", "compute", 1},
		{"a node after the DEFAULT line", "NodeName=DEFAULT CPUs=2\nNodeName=gpu1\n", "gpu1", "compute", 0},
		{"no slurm.conf", "", "head", "controller", 1},
		{"an unknown role", demo, "head", "login", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			script := slurmNodeRole(t, dir, tt.host)
			conf := filepath.Join(dir, "slurm.conf")
			if tt.conf != "" {
				if err := os.WriteFile(conf, []byte(tt.conf), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("sh", script, tt.role)
			cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "SLURM_CONF=" + conf}
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.want {
				t.Errorf("slurm-node-role %s on %s: exit %d, want %d (output %q)", tt.role, tt.host, code, tt.want, out)
			}
		})
	}
}

// TestClusterDemoRefuses: bad input to cluster-demo.sh gets a clear error
// before anything is made, and down with nothing up succeeds.
func TestClusterDemoRefuses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: cluster-demo.sh refuses to run otherwise")
	}
	if _, err := os.Stat("../builddir/apptainer"); err != nil {
		t.Skip("no builddir/apptainer (run make)")
	}
	for _, prefix := range []string{"Bad", "a/../b", "x-y", "waytoolongprefix12"} {
		cmd := exec.Command("scripts/cluster-demo.sh", "up")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CLUSTER_DEMO_PREFIX="+prefix, "CLUSTER_DEMO_IMAGE=/nonexistent.sif")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "invalid CLUSTER_DEMO_PREFIX") {
			t.Errorf("prefix %q: %v, %q; want a failure saying the prefix is invalid", prefix, err, out)
		}
	}
	prefix := fmt.Sprintf("t%d", os.Getpid())
	for _, c := range []struct {
		args []string
		env  string
		code int
		want string
	}{
		{[]string{"up"}, "CLUSTER_DEMO_IMAGE=/nonexistent.sif", 1, "no image at /nonexistent.sif"},
		{[]string{"sideways"}, "", 2, "cluster-demo.sh [run]"},
		{[]string{"up", "extra"}, "", 2, "cluster-demo.sh [run]"},
		{[]string{"up"}, "CLUSTER_DEMO_TIMEOUT=soon", 1, "invalid CLUSTER_DEMO_TIMEOUT"},
		{[]string{"down"}, "", 0, "nothing left"},
	} {
		cmd := exec.Command("scripts/cluster-demo.sh", c.args...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CLUSTER_DEMO_PREFIX="+prefix, c.env)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("cluster-demo.sh %v: exit %d, %q; want exit %d saying %q", c.args, code, out, c.code, c.want)
		}
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), prefix+"-") {
		t.Errorf("namespaces of %s were made:\n%s", prefix, out)
	}
	if _, err := os.Stat("/run/apptainer-cluster-demo/" + prefix); err == nil {
		t.Errorf("/run/apptainer-cluster-demo/%s was made", prefix)
	}
}
