//go:build e2e

package e2e

// Issue 20, first slice: exec, run and shell by an ordinary user, in a user
// namespace that maps only that user's ids. Every test runs the binary as
// a user created for it (useradd, removed with userdel -r at cleanup) and
// checks what that user can observe, and what stays the user's on the
// host: ids, capabilities, files written through a bind, mounts and
// processes.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
)

// testUser is an ordinary user made for one test.
type testUser struct {
	name     string
	uid, gid int
	home     string
}

// newTestUser creates a user with a home below the test's scratch
// directory; at cleanup its processes must be gone (none is killed: a
// process left is a failure) and the user is removed with its home.
func newTestUser(t *testing.T) testUser {
	t.Helper()
	return newUser(t, "aptrl")
}

// newUser adds the user PREFIXPID, as newTestUser describes.
func newUser(t *testing.T, prefix string) testUser {
	t.Helper()
	name := fmt.Sprintf("%s%d", prefix, os.Getpid()%1000000)
	home := filepath.Join(env.Top, "home-"+name)
	if out, err := exec.Command("useradd", "-m", "-d", home, "-s", "/bin/sh", "-U", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		u := testUser{name: name, home: home}
		if lu, err := user.Lookup(name); err == nil {
			u.uid, _ = strconv.Atoi(lu.Uid)
			u.gid, _ = strconv.Atoi(lu.Gid)
		}
		if u.uid != 0 {
			// A failed test may leave the user's instances: they are
			// stopped, and what still runs as the user (created for
			// this test, so every such process is the test's) is
			// killed after the wait is reported.
			_ = u.run(t, "instance", "stop", "--all", "-F")
			deadline := time.Now().Add(30 * time.Second)
			for len(processesOf(u.uid)) > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if procs := processesOf(u.uid); len(procs) > 0 {
				t.Errorf("processes of %s left 30 s after its instances were stopped (killed now):\n%s", name, strings.Join(procs, "\n"))
				killAllOf(u.uid)
				waitFor(t, 10*time.Second, "the killed processes of "+name+" to end", func() (bool, string) {
					procs := processesOf(u.uid)
					return len(procs) == 0, strings.Join(procs, "\n")
				})
			}
		}
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			t.Errorf("userdel -r %s: %v\n%s", name, err, out)
		}
	})
	lu, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	u := testUser{name: name, home: home}
	u.uid, _ = strconv.Atoi(lu.Uid)
	u.gid, _ = strconv.Atoi(lu.Gid)
	if u.uid == 0 || u.gid == 0 {
		t.Fatalf("implausible ids %d:%d for %s", u.uid, u.gid, name)
	}
	return u
}

// run runs the binary under test as u, in u's home, with u's environment.
// startWaiting starts apptainer ARGS... as the user, its container running
// a shell that says "ready" and waits on its standard input, and returns
// once it said so; the cleanup ends it.
func (u testUser) startWaiting(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(env.Bin, append(args, "sh", "-c", "echo ready; read line")...)
	cmd.Dir = u.home
	cmd.Env = []string{"HOME=" + u.home, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{}}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	waitFor(t, 60*time.Second, "the container to print ready", func() (bool, string) { return strings.Contains(out.String(), "ready"), out.String() })
}

func (u testUser) run(t *testing.T, args ...string) result {
	t.Helper()
	return asUser(t, u, nil, env.Bin, args...)
}

// asUser runs a command as u, in u's home, with u's environment plus
// extra.
func asUser(t *testing.T, u testUser, extra []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = u.home
	cmd.Env = append([]string{"HOME=" + u.home, "USER=" + u.name, "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C"}, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{uint32(u.gid)}}}
	return runResult(t, cmd)
}

// killAllOf sends SIGKILL to every process whose real uid is uid.
func killAllOf(uid int) {
	for _, p := range processesOf(uid) {
		pid, _, _ := strings.Cut(p, ":")
		if n, err := strconv.Atoi(pid); err == nil {
			_ = syscall.Kill(n, syscall.SIGKILL)
		}
	}
}

// processesOf lists the processes whose real uid is uid.
func processesOf(uid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] == strconv.Itoa(uid) {
				cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmd), "\x00", " "))
			}
		}
	}
	return out
}

// rootlessSetup prepares what `make install` provides (the session mount
// point) and, on a machine whose /dev/fuse only root may open (this VM
// has no udev), a usable /dev/fuse in the suite's private mount
// namespace, as Debian's udev rules make it (0666). Nothing on the real
// machine changes; the bind is undone at cleanup.
func rootlessSetup(t *testing.T) {
	t.Helper()
	session := filepath.Join(buildcfg.LocalStateDir, "apptainer", "mnt", "session")
	if strings.HasPrefix(env.Bin, env.Top) {
		session = filepath.Join(env.Top, "var", "apptainer", "mnt", "session")
	}
	if err := os.MkdirAll(session, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"squashfuse", "fusermount3"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is needed (scripts/install-deps.sh installs it): %v", p, err)
		}
	}
}

// usableFuse binds a 0666 node of /dev/fuse over /dev/fuse in this
// private mount namespace when users cannot open the real one, and says
// whether it had to.
func usableFuse(t *testing.T) bool {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/dev/fuse", &st); err != nil {
		t.Fatalf("no /dev/fuse: %v", err)
	}
	if st.Mode&0o006 == 0o006 {
		return false
	}
	node := filepath.Join(t.TempDir(), "fuse")
	if err := syscall.Mknod(node, syscall.S_IFCHR|0o666, int(st.Rdev)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(node, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(node, "/dev/fuse", "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount("/dev/fuse", syscall.MNT_DETACH); err != nil {
			t.Errorf("cannot undo the /dev/fuse bind: %v", err)
		}
	})
	return true
}

// readableDir makes a directory every user can read, below the scratch
// directory (t.TempDir's are root's alone).
func readableDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp(env.Top, "rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// userBusyboxSIF builds a SIF of the busybox image that every user may
// read, in dir.
func userBusyboxSIF(t *testing.T, dir string) string {
	t.Helper()
	sif := filepath.Join(dir, "busybox.sif")
	mustSucceed(t, apptainer(t, "build", sif, env.Busybox), "build a busybox SIF")
	if err := os.Chmod(sif, 0o644); err != nil {
		t.Fatal(err)
	}
	return sif
}

// userCopy is a copy of the file src that every user may read, in a
// directory of readableDir's (a hard link where the file system allows).
func userCopy(t *testing.T, src, name string) string {
	t.Helper()
	dst := filepath.Join(readableDir(t), name)
	if err := os.Link(src, dst); err != nil {
		if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", src, err, out)
		}
	}
	if err := os.Chmod(dst, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// mountinfo is the suite namespace's mount table, mount IDs left out.
func mountinfo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRootlessExecRunShell(t *testing.T) {
	rootlessSetup(t)
	u := newTestUser(t)
	dir := readableDir(t)
	sif := userBusyboxSIF(t, dir)
	if !usableFuse(t) {
		t.Log("/dev/fuse is usable by users here; the refusal without it is not exercised")
	} else {
		t.Run("SIF without a usable /dev/fuse: clear error", func(t *testing.T) {
			// The bind of usableFuse is this namespace's; the user's
			// refusal is checked through a namespace without it.
			cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", `umount /dev/fuse && exec setpriv --reuid="$1" --regid="$2" --clear-groups env HOME="$3" "$4" exec "$5" true`,
				"sh", strconv.Itoa(u.uid), strconv.Itoa(u.gid), u.home, env.Bin, sif)
			r := runResult(t, cmd)
			mustFail(t, r, "/dev/fuse must be readable and writable by users")
		})
	}
	before := mountinfo(t)
	want := fmt.Sprintf("%d %d", u.uid, u.gid)
	for _, img := range []string{env.Busybox, sif} {
		kind := filepath.Ext(img)
		if kind == "" {
			kind = "sandbox"
		}
		t.Run("exec id "+kind, func(t *testing.T) {
			r := u.run(t, "exec", img, "sh", "-c", "echo $(id -u) $(id -g)")
			mustSucceed(t, r, "exec id")
			if got := strings.TrimSpace(r.Stdout); got != want {
				t.Errorf("ids inside = %q, want %q", got, want)
			}
		})
		t.Run("home, cwd and /tmp "+kind, func(t *testing.T) {
			marker := filepath.Join(u.home, "marker")
			if err := os.WriteFile(marker, []byte("home\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := u.run(t, "exec", img, "sh", "-c", `pwd; cat "$HOME/marker"; ls -d /tmp`)
			mustSucceed(t, r, "exec pwd")
			if got := strings.Fields(r.Stdout); len(got) != 3 || got[0] != u.home || got[1] != "home" || got[2] != "/tmp" {
				t.Errorf("cwd, home file, /tmp = %q, want %s, home, /tmp", r.Stdout, u.home)
			}
		})
		t.Run("shell -c "+kind, func(t *testing.T) {
			r := u.run(t, "shell", img, "-c", "echo $((6*7))")
			mustSucceed(t, r, "shell -c")
			if strings.TrimSpace(r.Stdout) != "42" {
				t.Errorf("shell -c printed %q, want 42", r.Stdout)
			}
		})
		t.Run("writable-tmpfs "+kind, func(t *testing.T) {
			r := u.run(t, "exec", "--writable-tmpfs", img, "sh", "-c", "echo scratch > /scratchfile && cat /scratchfile")
			mustSucceed(t, r, "exec --writable-tmpfs")
			if strings.TrimSpace(r.Stdout) != "scratch" {
				t.Errorf("--writable-tmpfs: read back %q", r.Stdout)
			}
			// Control: without it the root is read-only.
			r = u.run(t, "exec", img, "sh", "-c", "echo scratch > /scratchfile")
			if r.Code == 0 {
				t.Errorf("a write to / succeeded without --writable-tmpfs:\n%s", r)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(env.Busybox, "scratchfile")); err == nil {
		t.Error("--writable-tmpfs wrote into the sandbox image")
	}
	t.Run("run", func(t *testing.T) {
		img := filepath.Join(dir, "runner")
		if out, err := exec.Command("cp", "-a", env.Busybox, img).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
		if err := os.MkdirAll(filepath.Join(img, ".singularity.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(img, ".singularity.d", "runscript"), []byte("#!/bin/sh\necho \"ran as $(id -u) with $*\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		r := u.run(t, "run", img, "a", "b")
		mustSucceed(t, r, "run")
		if got, w := strings.TrimSpace(r.Stdout), fmt.Sprintf("ran as %d with a b", u.uid); got != w {
			t.Errorf("run printed %q, want %q", got, w)
		}
	})
	t.Run("bind of a user-owned directory", func(t *testing.T) {
		data := filepath.Join(u.home, "data")
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(data, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
		r := u.run(t, "exec", "-B", data+":/data", env.Busybox, "sh", "-c", "echo made > /data/new && mkdir /data/sub")
		mustSucceed(t, r, "exec with a bind")
		for _, p := range []string{"new", "sub"} {
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(data, p), &st); err != nil {
				t.Fatalf("%s not created on the host: %v", p, err)
			}
			if int(st.Uid) != u.uid || int(st.Gid) != u.gid {
				t.Errorf("%s is %d:%d on the host, want the user's %d:%d", p, st.Uid, st.Gid, u.uid, u.gid)
			}
		}
	})
	if after := mountinfo(t); after != before {
		t.Errorf("the host's mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// statusText returns a field of a /proc/PID/status text.
func statusText(status, key string) string {
	for _, line := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestRootlessGainsNothing: inside, the user has no capability, no id but
// its own and no_new_privs; seen from the host, the container's process is
// the user's with no capability either; nothing outside the user's rights
// can be written; and the refusals of what stays root's.
func TestRootlessGainsNothing(t *testing.T) {
	rootlessSetup(t)
	u := newTestUser(t)
	t.Run("inside: no capability, only the user's ids mapped", func(t *testing.T) {
		r := u.run(t, "exec", env.Busybox, "sh", "-c", "cat /proc/self/status; echo UIDMAP; cat /proc/self/uid_map /proc/self/gid_map")
		mustSucceed(t, r, "exec status")
		status, maps, _ := strings.Cut(r.Stdout, "UIDMAP")
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if v := statusText(status, k); v != "0000000000000000" {
				t.Errorf("%s = %q inside, want none", k, v)
			}
		}
		if v := statusText(status, "NoNewPrivs"); v != "1" {
			t.Errorf("NoNewPrivs = %q, want 1", v)
		}
		wantMaps := fmt.Sprintf("%d %d 1\n%d %d 1", u.uid, u.uid, u.gid, u.gid)
		if got := strings.Join(strings.Fields(maps), " "); got != strings.Join(strings.Fields(wantMaps), " ") {
			t.Errorf("id maps = %q, want %q", got, wantMaps)
		}
	})
	t.Run("from the host: the user's process, no capability", func(t *testing.T) {
		u.startWaiting(t, "exec", env.Busybox)
		procs := processesOf(u.uid)
		if len(procs) == 0 {
			t.Fatal("no process of the user seen from the host (positive control of the check below)")
		}
		for _, p := range procs {
			pid, _, _ := strings.Cut(p, ":")
			st, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
			if err != nil {
				continue
			}
			uids, gids := strings.Fields(statusText(string(st), "Uid")), strings.Fields(statusText(string(st), "Gid"))
			for _, id := range append(uids, gids...) {
				if id != strconv.Itoa(u.uid) && id != strconv.Itoa(u.gid) {
					t.Errorf("process %s has id %s on the host (Uid %v Gid %v)", p, id, uids, gids)
				}
			}
			// Capabilities a process holds in its own user namespace
			// are no capability on the host; the container's process
			// holds none at all.
			if strings.Contains(p, "read line") {
				if v := statusText(string(st), "CapEff"); v != "0000000000000000" {
					t.Errorf("the container's process %s has CapEff %s", p, v)
				}
			}
		}
	})
	t.Run("no write beyond the user's rights", func(t *testing.T) {
		rootFile := filepath.Join(readableDir(t), "rootfile")
		if err := os.WriteFile(rootFile, []byte("root's\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		own := filepath.Join(u.home, "own")
		if err := os.WriteFile(own, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(own, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
		r := u.run(t, "exec", "-B", rootFile+":/rootfile", env.Busybox, "sh", "-c", "echo owned >> /rootfile")
		if r.Code == 0 {
			t.Errorf("the user wrote to root's file through a bind:\n%s", r)
		}
		// Positive control: the same write to the user's own file works.
		mustSucceed(t, u.run(t, "exec", "-B", own+":/own", env.Busybox, "sh", "-c", "echo owned >> /own"), "write to the user's own file")
		if b, _ := os.ReadFile(rootFile); string(b) != "root's\n" {
			t.Errorf("root's file now holds %q", b)
		}
		// No mount inside either: the process holds no CAP_SYS_ADMIN.
		r = u.run(t, "exec", "--writable-tmpfs", env.Busybox, "sh", "-c", "mkdir -p /m && mount -t tmpfs none /m")
		if r.Code == 0 {
			t.Errorf("a mount succeeded inside the container:\n%s", r)
		}
	})
	for _, tc := range []struct{ args, want string }{
		{"exec --keep-privs {bb} true", "--keep-privs requires root privileges"},
		{"exec --net {bb} true", "network requires root or a suid installation"},
		{"exec --overlay {dir} {bb} true", "--overlay needs root in this build"},
		{"exec --add-caps CAP_NET_RAW {bb} true", "--add-caps requires root privileges"},
	} {
		args := strings.Fields(strings.NewReplacer("{bb}", env.Busybox, "{dir}", u.home).Replace(tc.args))
		t.Run("refused: "+tc.args, func(t *testing.T) {
			mustFail(t, u.run(t, args...), tc.want)
		})
	}
}

// TestRootlessHostileImage: an image whose directories are symbolic links
// to host paths the user may write (absolute, and climbing with ..) gets
// its mount points made inside the image's own tree, never in those host
// directories.
func TestRootlessHostileImage(t *testing.T) {
	rootlessSetup(t)
	u := newTestUser(t)
	victim := filepath.Join(u.home, "victim")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(victim, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(readableDir(t), "hostile")
	if out, err := exec.Command("cp", "-a", env.Busybox, img).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	for _, d := range []string{"etc", "home"} {
		if err := os.RemoveAll(filepath.Join(img, d)); err != nil {
			t.Fatal(err)
		}
	}
	climb := strings.Repeat("../", 12) + strings.TrimPrefix(victim, "/")
	for link, target := range map[string]string{"etc": climb, "home": victim} {
		if err := os.Symlink(target, filepath.Join(img, link)); err != nil {
			t.Fatal(err)
		}
	}
	// Positive control: the victim directory is the user's to write, so
	// an escape would show there.
	mustSucceed(t, u.run(t, "exec", "-B", victim+":/v", env.Busybox, "touch", "/v/probe"), "write to the victim directory as the user")
	if err := os.Remove(filepath.Join(victim, "probe")); err != nil {
		t.Fatalf("the control wrote nothing: %v", err)
	}
	for _, flags := range [][]string{nil, {"--contain"}, {"--writable-tmpfs"}, {"--fakeroot"}, {"--fakeroot", "--writable-tmpfs"}} {
		args := append(append([]string{"exec"}, flags...), img, "true")
		// Either the mount points are made inside the image's own tree,
		// or the runtime refuses the image; never in the host directory.
		if r := u.run(t, args...); r.Code != 0 && !strings.Contains(r.Stderr, "lead it out of the image") {
			t.Errorf("%s: want success or the refusal:\n%s", strings.Join(args, " "), r)
		}
	}
	names, err := os.ReadDir(victim)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) > 0 {
		var ns []string
		for _, n := range names {
			ns = append(ns, n.Name())
		}
		t.Errorf("mount points were made in the host directory %s: %v", victim, ns)
	}
}
