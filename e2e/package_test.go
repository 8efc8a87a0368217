//go:build e2e

package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPackageDebInstall installs the .deb into a fresh Debian 12 root (an
// overlay on the cached systemd image, so the cache is never written),
// boots the demo image with --boot-hostnet from that install on a fake
// host, and checks that the host is unchanged, that `dpkg --remove` keeps
// the configuration and that `dpkg --purge` leaves nothing but what
// Debian policy allows: dpkg's own database and log, and root's instance
// files in its home.
func TestPackageDebInstall(t *testing.T) {
	img := bootImage(t)
	deb := packageDeb(t)
	deps := packageDeps(t, img)
	root := overlayRoot(t, img)

	debs := filepath.Join(root, "tmp", "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		t.Fatal(err)
	}
	depDebs, _ := filepath.Glob(filepath.Join(deps, "*.deb"))
	if len(depDebs) > 0 {
		args := []string{"dpkg", "-i"}
		for _, d := range depDebs {
			mustCopy(t, d, filepath.Join(debs, filepath.Base(d)))
			args = append(args, "/tmp/debs/"+filepath.Base(d))
		}
		inChroot(t, root, args...)
	}
	// The ordinary user of the user part, and the images it runs, are the
	// machine's before the install: only what the runtime makes of them
	// may differ after the purge.
	prepareInstallUser(t, root)
	mustCopy(t, deb, filepath.Join(debs, "apptainer.deb"))
	// debootstrap's minbase has no /etc/hosts (netbase's), which every
	// real host has and apptainer.conf binds.
	if err := os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	before := fileList(t, root)
	inChroot(t, root, "dpkg", "-i", "/tmp/debs/apptainer.deb")
	installed := fileList(t, root)
	checkInstalledFiles(t, root, before, installed)

	usableFuse(t)
	h := installedHost(t, root, img)
	bootFromInstall(t, h, root)
	userFromInstall(t, h, root)

	// Remove keeps the conffiles, purge removes them.
	inChroot(t, root, "dpkg", "--remove", "apptainer")
	if _, err := os.Stat(filepath.Join(root, "etc/apptainer/apptainer.conf")); err != nil {
		t.Errorf("dpkg --remove took the conffile apptainer.conf: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "usr/bin/apptainer")); err == nil {
		t.Error("dpkg --remove left /usr/bin/apptainer")
	}
	inChroot(t, root, "dpkg", "--purge", "apptainer")
	if st := chrootOutput(t, root, "dpkg-query", "-W", "-f", "${db:Status-Status}", "apptainer"); st != "" && st != "not-installed" {
		t.Errorf("after purge dpkg says the package is %q", st)
	}
	if d := filesDiff(before, fileList(t, root), purgeMayLeave); len(d) > 0 {
		t.Errorf("dpkg --purge left the root different from before the install:\n%s", strings.Join(d, "\n"))
	}
}

// purgeMayLeave are what may differ in the root after a purge: dpkg's
// database and log, and the instance files the runtime wrote for root in
// its home (user data, which no package removes).
var purgeMayLeave = []string{"/var/lib/dpkg/", "/var/log/dpkg.log", "/root/.apptainer/", "/home/" + installUser + "/.apptainer/"}

// checkInstalledFiles checks the installed package: its files in their
// FHS places, the configuration marked as conffiles. It is also the
// positive control of the purge check: the same comparison must see what
// the install added.
func checkInstalledFiles(t *testing.T, root string, before, installed map[string]string) {
	t.Helper()
	added := strings.Join(filesDiff(before, installed, purgeMayLeave), "\n")
	for _, want := range []string{
		"/usr/bin/apptainer", "/usr/bin/singularity", "/usr/libexec/apptainer/bin/apptainer-engine",
		"/usr/libexec/apptainer/bin/apptainer-nsenter", "/etc/apptainer/apptainer.conf",
		"/etc/apptainer/network/00_bridge.conflist", "/usr/share/man/man1/apptainer.1.gz",
		"/usr/share/bash-completion/completions/apptainer", "/usr/share/doc/apptainer/copyright",
		"/usr/share/doc/apptainer/README.md.gz", "/var/lib/apptainer/mnt/session",
	} {
		if !strings.Contains(added, "added "+want+" ") {
			t.Errorf("the install did not add %s (or the file comparison cannot see it); added:\n%s", want, added)
		}
	}
	conffiles, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/apptainer.conffiles"))
	if err != nil || !strings.Contains(string(conffiles), "/etc/apptainer/apptainer.conf\n") {
		t.Errorf("apptainer.conf is not a conffile (%v):\n%s", err, conffiles)
	}
	if v := chrootOutput(t, root, "apptainer", "version"); v == "" {
		t.Error("the installed apptainer printed no version")
	}
}

// installedHost is a fake host where the installed system at root can
// run (see installed).
func installedHost(t *testing.T, root, img string) *fakeHost {
	t.Helper()
	h := newFakeHost(t)
	// What the runtime needs of the system it is installed on, in the fake
	// host's mount namespace only (they go with it): /proc, /sys with the
	// cgroups, /dev, an empty /run, and the image to boot at /mnt.
	for _, m := range [][]string{
		{"mount", "--rbind", "/proc", root + "/proc"},
		{"mount", "--rbind", "/sys", root + "/sys"},
		{"mount", "--rbind", "/dev", root + "/dev"},
		{"mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", root + "/run"},
		{"mount", "--bind", img, root + "/mnt"},
	} {
		h.mustRun(t, m...)
	}
	if err := os.MkdirAll(filepath.Join(root, "tmp", ".oldroot"), 0o700); err != nil {
		t.Fatal(err)
	}
	return h
}

// installedAs runs the installed apptainer with args in the fake host h:
// the kernel refuses a user namespace to a chrooted process, so it runs
// with the root pivoted to, as on a machine of its own (a mount namespace
// per command, made from the fake host's, whose root is the installed
// system). wrapper, when given, runs it (setpriv as a user); env is its
// environment.
func installedAs(t *testing.T, h *fakeHost, root string, wrapper, env []string, args ...string) result {
	t.Helper()
	const pivot = `cd "$1" && pivot_root . tmp/.oldroot && umount -l /tmp/.oldroot && shift && exec "$@"`
	cmdline := append(append([]string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", pivot, "sh", root}, wrapper...), "/usr/bin/apptainer")
	a := h.nsenterArgs(append(cmdline, args...)...)
	cmd := exec.Command(a[0], a[1:]...)
	cmd.Env = env
	return runResult(t, cmd)
}

// bootFromInstall boots the image at /mnt with --boot-hostnet on the fake
// host h with the installed binaries and their installed configuration,
// and checks that the fake host's network is unchanged while it runs and
// after it stopped.
func bootFromInstall(t *testing.T, h *fakeHost, root string) {
	t.Helper()
	installed := func(args ...string) result {
		t.Helper()
		return installedAs(t, h, root, nil, []string{"HOME=/root", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}, args...)
	}
	const name = "pkgdemo"
	t.Cleanup(func() {
		r := installed("instance", "stop", "-t", "20", name)
		if !waitGone(name, 30*time.Second) {
			t.Errorf("cleanup: the monitor of %s still runs 30 s after instance stop:\n%s", name, r)
		}
	})
	before := h.snapshot(t)
	r := installed("instance", "start", "--boot", "--boot-hostnet", "/mnt", name)
	mustSucceed(t, r, "the installed apptainer: instance start --boot --boot-hostnet")
	if !strings.Contains(r.Stdout, name+": running") || !strings.Contains(r.Stderr, "host network unchanged") {
		t.Errorf("the boot did not report running and an unchanged host network:\n%s", r)
	}
	list := installed("instance", "list")
	if !strings.Contains(list.Stdout, name) {
		t.Errorf("instance list of the installed apptainer lacks %s:\n%s", name, list)
	}
	if hn := installed("exec", "instance://"+name, "hostname"); strings.TrimSpace(hn.Stdout) != name {
		t.Errorf("hostname inside the instance: %s", hn)
	}
	assertUnchanged(t, "while the instance of the installed package runs", before, h.snapshot(t))
	mustSucceed(t, installed("instance", "stop", name), "the installed apptainer: instance stop")
	if !waitGone(name, 30*time.Second) {
		t.Fatalf("the monitor of %s still runs 30 s after instance stop", name)
	}
	assertUnchanged(t, "after the instance of the installed package stopped", before, h.snapshot(t))
}

// packageDeb is the .deb under test: APPTAINER_E2E_DEB (make deb's, as CI
// passes it), else one built now by scripts/build-package.sh.
func packageDeb(t *testing.T) string {
	t.Helper()
	if deb := os.Getenv("APPTAINER_E2E_DEB"); deb != "" {
		return deb
	}
	out := t.TempDir()
	script, _ := filepath.Abs("../scripts/build-package.sh")
	cmd := exec.Command(script, "deb", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the .deb: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "apptainer_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("the build made %d apptainer_*.deb in %s, want 1", len(debs), out)
	}
	return debs[0]
}

// packageDeps is the folder of the .debs the image lacks for the
// package's Depends: APPTAINER_E2E_DEB_DEPS (make e2e fetches them before
// the tests, which have no network), else scripts/e2e-debs.sh's cache.
func packageDeps(t *testing.T, img string) string {
	t.Helper()
	if d := os.Getenv("APPTAINER_E2E_DEB_DEPS"); d != "" {
		return d
	}
	script, _ := filepath.Abs("../scripts/e2e-debs.sh")
	out, err := exec.Command(script, img).Output()
	if err != nil {
		t.Fatalf("%s %s (run it once with network, or through make e2e): %v\n%s", script, img, err, stderrOf(err))
	}
	l := lines(string(out))
	return l[len(l)-1]
}

// overlayRoot mounts a writable overlay on img for this test and unmounts
// it at the end: the install writes to the upper layer only.
func overlayRoot(t *testing.T, img string) string {
	t.Helper()
	dir := t.TempDir()
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "root")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + img + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("overlay on the image: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(merged, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting the overlay root: %v", err)
		}
	})
	return merged
}

// inChroot runs a command in root and fails the test when it fails.
func inChroot(t *testing.T, root string, args ...string) {
	t.Helper()
	cmd := exec.Command("chroot", append([]string{root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "DEBIAN_FRONTEND=noninteractive", "HOME=/root"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chroot %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// chrootOutput runs a command in root and returns its trimmed standard
// output, empty when it fails.
func chrootOutput(t *testing.T, root string, args ...string) string {
	t.Helper()
	cmd := exec.Command("chroot", append([]string{root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "HOME=/root"}
	out, _ := cmd.Output()
	return strings.TrimSpace(string(out))
}

// fileList maps every path of root (as seen inside it) to its type,
// permissions, size, link target and modification time, leaving out the
// folders that hold kernel and scratch file systems.
func fileList(t *testing.T, root string) map[string]string {
	t.Helper()
	skip := map[string]bool{"/proc": true, "/sys": true, "/dev": true, "/run": true, "/tmp": true, "/mnt": true}
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if skip[rel] {
			return fs.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %d %d", info.Mode(), info.Size(), info.ModTime().UnixNano())
		if info.IsDir() {
			desc = info.Mode().String() // a folder's size and time change with its entries
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		files[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", root, err)
	}
	return files
}

// filesDiff lists what was added, removed or changed from before to after,
// sorted, except paths under one of the allowed prefixes.
func filesDiff(before, after map[string]string, allowed []string) []string {
	mayDiffer := func(p string) bool {
		for _, a := range allowed {
			if p == strings.TrimSuffix(a, "/") || strings.HasPrefix(p, a) {
				return true
			}
		}
		return false
	}
	var d []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case mayDiffer(p):
		case !ok:
			d = append(d, "removed "+p+" ("+b+")")
		case a != b:
			d = append(d, "changed "+p+" ("+b+" -> "+a+")")
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok && !mayDiffer(p) {
			d = append(d, "added "+p+" ("+a+")")
		}
	}
	sort.Strings(d)
	return d
}

func mustCopy(t *testing.T, src, dst string) {
	t.Helper()
	if err := copyFile(src, dst); err != nil {
		t.Fatal(err)
	}
}

// installUser is the ordinary user of the package test, with a fixed uid
// so that its processes can be told on the machine.
const (
	installUser    = "pkguser"
	installUserUID = 64123
)

// prepareInstallUser adds the ordinary user to the system at root (with
// a subordinate range, as useradd gives one where /etc/subuid exists) and
// puts a busybox sandbox and SIF it may read in /srv.
func prepareInstallUser(t *testing.T, root string) {
	t.Helper()
	for _, f := range []string{"etc/subuid", "etc/subgid"} {
		fh, err := os.OpenFile(filepath.Join(root, f), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	// The image's /etc/resolv.conf leads to systemd-resolved's file,
	// which is not running here; every real host has one, and
	// apptainer.conf binds it for exec.
	_ = os.Remove(filepath.Join(root, "etc/resolv.conf"))
	if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	uid := strconv.Itoa(installUserUID)
	inChroot(t, root, "useradd", "-m", "-U", "-u", uid, "-s", "/bin/sh", installUser)
	srv := filepath.Join(root, "srv")
	if out, err := exec.Command("cp", "-a", env.Busybox, filepath.Join(srv, "bb")).CombinedOutput(); err != nil {
		t.Fatalf("copy the busybox sandbox: %v\n%s", err, out)
	}
	sd := filepath.Join(srv, "bb", ".singularity.d")
	if err := os.MkdirAll(sd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sd, "runscript"), []byte("#!/bin/sh\necho \"ran $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, apptainer(t, "build", filepath.Join(srv, "bb.sif"), filepath.Join(srv, "bb")), "build a busybox SIF")
	if err := os.Chmod(filepath.Join(srv, "bb.sif"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// userFromInstall: as a new ordinary user of the installed system,
// exec, run, shell -c and an instance's start, exec instance:// and stop
// work on a sandbox and on a SIF (squashfuse, from the package's
// Recommends), --fakeroot makes the user root inside, and nothing is
// left afterwards: no process of the user, no instance file, no runtime
// directory.
func userFromInstall(t *testing.T, h *fakeHost, root string) {
	t.Helper()
	home := "/home/" + installUser
	uid := strconv.Itoa(installUserUID)
	wrapper := []string{"setpriv", "--reuid=" + uid, "--regid=" + uid, "--init-groups"}
	as := func(args ...string) result {
		t.Helper()
		return installedAs(t, h, root, wrapper, []string{"HOME=" + home, "USER=" + installUser, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}, args...)
	}
	t.Cleanup(func() {
		as("instance", "stop", "--all", "-F")
		waitFor(t, 30*time.Second, "no process of "+installUser+" left", func() (bool, string) {
			procs := processesOf(installUserUID)
			return len(procs) == 0, strings.Join(procs, "\n")
		})
	})
	for _, img := range []string{"/srv/bb", "/srv/bb.sif"} {
		r := as("exec", img, "id", "-u")
		mustSucceed(t, r, "the installed apptainer as a user: exec "+img)
		if strings.TrimSpace(r.Stdout) != uid {
			t.Errorf("exec %s: id -u printed %q, want %s", img, r.Stdout, uid)
		}
		if r := as("shell", img, "-c", "echo $((6*7))"); strings.TrimSpace(r.Stdout) != "42" {
			t.Errorf("shell -c %s:\n%s", img, r)
		}
		if r := as("run", img, "a", "b"); strings.TrimSpace(r.Stdout) != "ran a b" {
			t.Errorf("run %s: want \"ran a b\":\n%s", img, r)
		}
		if r := as("exec", "--fakeroot", img, "id", "-u"); strings.TrimSpace(r.Stdout) != "0" {
			t.Errorf("exec --fakeroot %s: want id 0:\n%s", img, r)
		}
		name := "u" + strings.TrimPrefix(filepath.Ext(img), ".")
		mustSucceed(t, as("instance", "start", img, name), "the installed apptainer as a user: instance start "+img)
		if r := as("exec", "instance://"+name, "id", "-u"); strings.TrimSpace(r.Stdout) != uid {
			t.Errorf("exec instance://%s: id -u printed %q, want %s\n%s", name, r.Stdout, uid, r)
		}
		mustSucceed(t, as("instance", "stop", name), "the installed apptainer as a user: instance stop")
		waitFor(t, 30*time.Second, "the processes of "+name+" to end", func() (bool, string) {
			procs := processesOf(installUserUID)
			return len(procs) == 0, strings.Join(procs, "\n")
		})
		store := filepath.Join(root, home, ".apptainer", "instances")
		// Instance directories are app/HOST/USER/NAME, runtime
		// directories run/HOST/NAME; the logs stay, as upstream's.
		left, _ := exec.Command("sh", "-c", `find "$1/app" -mindepth 3; find "$1/run" -mindepth 2`, "sh", store).Output()
		if strings.TrimSpace(string(left)) != "" {
			t.Errorf("files of stopped instance %s are left:\n%s", name, left)
		}
	}
}
