//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rootlessHost is a fake host where an ordinary user runs the runtime
// from a cgroup delegated to it, as systemd's user manager or a
// Delegate=yes scope gives one.
type rootlessHost struct {
	*fakeHost
	u      testUser
	cgroup string
}

// newRootlessHost makes the fake host, the user's delegated cgroup (the
// directory and the files systemd hands over: cgroup.procs,
// cgroup.subtree_control, cgroup.threads) and a SIF of the boot image the
// user can read.
func newRootlessHost(t *testing.T) (*rootlessHost, string) {
	t.Helper()
	rootlessSetup(t)
	u := newTestUser(t)
	usableFuse(t)
	sif := userCopy(t, testSIF(t), "boot.sif")
	cg := filepath.Join(unifiedMount(t), "e2e-rootless-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroupTree(t, cg) })
	for _, p := range []string{cg, filepath.Join(cg, "cgroup.procs"), filepath.Join(cg, "cgroup.subtree_control"), filepath.Join(cg, "cgroup.threads")} {
		if err := os.Chown(p, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
	}
	return &rootlessHost{fakeHost: newFakeHost(t), u: u, cgroup: cg}, sif
}

// unifiedMount is where the cgroup2 hierarchy is mounted: /sys/fs/cgroup
// on a pure cgroup2 host, /sys/fs/cgroup/unified on a hybrid one.
func unifiedMount(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st syscall.Statfs_t
		if syscall.Statfs(p, &st) == nil && st.Type == 0x63677270 { // CGROUP2_SUPER_MAGIC
			return p
		}
	}
	t.Skip("no cgroup2 hierarchy on this host")
	return ""
}

// removeCgroupTree removes cgroup dir and what is below it, deepest first,
// once their processes are gone.
func removeCgroupTree(t *testing.T, dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		waitFor(t, 30*time.Second, "cgroup "+d+" to be removable", func() (bool, string) {
			err := os.Remove(d)
			return err == nil || os.IsNotExist(err), "rmdir: " + errString(err)
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// apptainer runs the binary under test in the fake host as the user, from
// the user's delegated cgroup, with the user's groups and environment.
func (h *rootlessHost) apptainer(t *testing.T, args ...string) result {
	t.Helper()
	script := `cg=$1 uid=$2 gid=$3 home=$4 user=$5 bin=$6; shift 6
echo $$ > "$cg/cgroup.procs" && exec setpriv --reuid="$uid" --regid="$gid" --init-groups env -i HOME="$home" USER="$user" PATH=/usr/local/bin:/usr/bin:/bin LANG=C "$bin" "$@"`
	a := h.nsenterArgs(append([]string{"sh", "-c", script, "sh", h.cgroup, strconv.Itoa(h.u.uid), strconv.Itoa(h.u.gid), h.u.home, h.u.name, env.Bin}, args...)...)
	cmd := exec.Command(a[0], a[1:]...)
	cmd.Dir = h.u.home
	return runResult(t, cmd)
}

// TestRootlessBootHostnet: a user listed in apptainer.conf boots an
// instance on a fake host's network with --fakeroot; the host's network
// is the same before, while it runs and after, and what root inside tries
// on the host's links fails. A user not listed is refused, and nothing is
// left of the attempt.
func TestRootlessBootHostnet(t *testing.T) {
	h, sif := newRootlessHost(t)
	before := h.snapshot(t)
	r := h.apptainer(t, "instance", "start", "--boot", "--fakeroot", "--boot-hostnet", sif, "rlhost")
	mustFail(t, r, "user "+h.u.name+" is not allowed to boot instances on the host network")
	if procs := processesOf(h.u.uid); len(procs) > 0 {
		t.Errorf("a refused start left processes:\n%s", strings.Join(procs, "\n"))
	}
	if _, err := os.Stat(filepath.Join(h.u.home, ".apptainer", "instances", "app")); !os.IsNotExist(err) {
		t.Errorf("a refused start left instance files (%v)", err)
	}

	withConf(t, "allow boot hostnet users = "+h.u.name)
	stop := func(name string) {
		r := h.apptainer(t, "instance", "stop", "-t", "20", name)
		waitFor(t, 60*time.Second, "the processes of "+name+" to end", func() (bool, string) {
			procs := processesOf(h.u.uid)
			return len(procs) == 0, r.String() + "\n" + strings.Join(procs, "\n")
		})
	}
	t.Cleanup(func() { stop("rlhost") })
	r = h.apptainer(t, "instance", "start", "--boot", "--fakeroot", "--boot-hostnet", sif, "rlhost")
	mustSucceed(t, r, "a listed user's rootless boot on the host network")
	for _, want := range []string{
		"runs in a user namespace of its user's: container id 0 is host id " + strconv.Itoa(h.u.uid),
		"host network unchanged",
		"the firewall was not compared",
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the start does not say %q:\n%s", want, r)
		}
	}
	if !strings.Contains(r.Stdout, "rlhost: running") && !strings.Contains(r.Stdout, "rlhost: degraded") {
		t.Errorf("the start does not report running or degraded:\n%s", r)
	}
	st := h.apptainer(t, "exec", "instance://rlhost", "timeout", "120", "systemctl", "is-system-running", "--wait")
	if s := strings.TrimSpace(st.Stdout); s != "running" && s != "degraded" {
		t.Errorf("systemctl is-system-running: %q\n%s", s, st)
	}
	uidMap := strings.Fields(h.apptainer(t, "exec", "instance://rlhost", "cat", "/proc/1/uid_map").Stdout)
	if len(uidMap) < 3 || uidMap[0] != "0" || uidMap[1] != strconv.Itoa(h.u.uid) {
		t.Errorf("uid_map of PID 1: %v, want root mapped to the user's uid %d", uidMap, h.u.uid)
	}
	// From inside, root tries to change the host's links.
	for _, attack := range [][]string{
		{"ip", "link", "set", "ib0", "mtu", "1500"},
		{"ip", "addr", "add", "10.201.0.99/24", "dev", "ib0"},
		{"sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/ib0/forwarding"},
	} {
		if r := h.apptainer(t, append([]string{"exec", "instance://rlhost"}, attack...)...); r.Code == 0 {
			t.Errorf("root of the instance changed the host: %s succeeded\n%s", strings.Join(attack, " "), r)
		}
	}
	assertUnchanged(t, "while the rootless instance runs", before, h.snapshot(t))
	stop("rlhost")
	assertUnchanged(t, "after the rootless instance stopped", before, h.snapshot(t))
	host, _ := os.Hostname()
	for _, p := range []string{
		filepath.Join(h.u.home, ".apptainer", "instances", "run", host, "rlhost"),
		filepath.Join(h.u.home, ".apptainer", "instances", "app", host, h.u.name, "rlhost"),
		filepath.Join(h.cgroup, "apptainer", h.u.name+".rlhost"),
	} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left after the stop (%v)", p, err)
		}
	}
	// Positive control: the same change, made by host root in the fake
	// host, goes through: the refusals above were the user namespace's.
	h.mustRun(t, "ip", "link", "set", "ib0", "mtu", "1500")
	if d := h.snapshot(t); strings.Contains(h.output(t, "ip", "-o", "link", "show", "ib0"), "mtu 2044") {
		t.Errorf("control: host root could not change ib0's MTU either:\n%v", d.Links)
	}
	h.mustRun(t, "ip", "link", "set", "ib0", "mtu", "2044")
}

// TestRootlessBoot: without --boot-hostnet a user's booted instance has a
// network namespace of its own with loopback only; without --fakeroot,
// or without a delegated cgroup, the start is refused with what to do.
func TestRootlessBoot(t *testing.T) {
	h, sif := newRootlessHost(t)
	// Long enough that its notify socket's path, in the user's home, does
	// not fit in a socket address: the monitor binds it through the
	// directory's descriptor.
	name := "rootless-boot-with-a-name-long-enough-to-overflow"
	if p := filepath.Join(h.u.home, ".apptainer/instances/run/host", name, "host/notify"); len(p) < 108 {
		t.Fatalf("the notify socket path %s fits in a socket address: the test would prove nothing", p)
	}
	mustFail(t, h.apptainer(t, "instance", "start", "--boot", sif, name), "an ordinary user boots with --fakeroot")
	t.Cleanup(func() { h.apptainer(t, "instance", "stop", "-F", name) })
	r := h.apptainer(t, "instance", "start", "--boot", "--fakeroot", sif, name)
	mustSucceed(t, r, "a rootless boot")
	links := h.apptainer(t, "exec", "instance://"+name, "ip", "-o", "link", "show")
	mustSucceed(t, links, "ip link inside")
	if got := strings.Fields(links.Stdout); len(got) < 2 || got[1] != "lo:" || strings.Count(links.Stdout, "\n") != 1 {
		t.Errorf("links inside: %q, want lo only", links.Stdout)
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", name), "stop")
	waitFor(t, 60*time.Second, "the instance's processes to end", func() (bool, string) {
		procs := processesOf(h.u.uid)
		return len(procs) == 0, strings.Join(procs, "\n")
	})
}

// TestRootlessDebianImage: a user's exec of a Debian image, whose
// /etc/localtime is a symbolic link owned by root (an id the user
// namespace does not map): the host's time zone is bound in its place,
// in a SIF and in a sandbox.
func TestRootlessDebianImage(t *testing.T) {
	rootlessSetup(t)
	u := newTestUser(t)
	usableFuse(t)
	sif := userCopy(t, testSIF(t), "debian.sif")
	img := bootImage(t)
	if fi, err := os.Lstat(filepath.Join(img, "etc", "localtime")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the Debian image's /etc/localtime is not a symbolic link (%v): the test would prove nothing", err)
	}
	hostZone, err := os.ReadFile("/etc/localtime")
	if err != nil {
		t.Skipf("the host has no /etc/localtime to bind: %v", err)
	}
	for _, tc := range []struct{ kind, img string }{{"SIF", sif}, {"sandbox", img}} {
		t.Run(tc.kind, func(t *testing.T) {
			r := u.run(t, "exec", tc.img, "sh", "-c", "test ! -L /etc/localtime && cksum < /etc/localtime")
			mustSucceed(t, r, "exec of a Debian image as a user")
			want := output(t, "sh", "-c", "cksum < /etc/localtime")
			if strings.TrimSpace(r.Stdout) != want {
				t.Errorf("/etc/localtime inside has checksum %q, want the host's %q (%d bytes)", r.Stdout, want, len(hostZone))
			}
		})
	}
}
