//go:build e2e

package e2e

// Issue 15: nothing of the caller reaches an instance, and nobody but the
// instance's init speaks for it. Descriptors the caller left open, the
// caller's session keyring, and notifications from other processes.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAttackCallerDescriptors: a directory and a root-only log that the
// caller of instance start, and of exec instance://, left open must reach
// neither the monitor, nor init, nor a joined process. Through an open
// directory a process reaches every file below it, wherever its root is.
func TestAttackCallerDescriptors(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	mark := fmt.Sprintf("e2e-leak-%d", os.Getpid())
	dir := filepath.Join(t.TempDir(), mark+"-dir")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), mark+".log")
	dirFile, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dirFile.Close()
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	withFiles := func(args ...string) result {
		a := h.nsenterArgs(append([]string{env.Bin}, args...)...)
		cmd := exec.Command(a[0], a[1:]...)
		cmd.Env = []string{"HOME=" + env.Home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
		cmd.ExtraFiles = []*os.File{dirFile, logFile} // descriptors 3 and 4
		return runResult(t, cmd)
	}
	// Positive control: a program started the same way does get them, and
	// reads the secret through the directory.
	ctl := exec.Command("sh", "-c", `cat /proc/self/fd/3/secret && readlink /proc/self/fd/4`)
	ctl.ExtraFiles = []*os.File{dirFile, logFile}
	if out, err := ctl.Output(); err != nil || !strings.Contains(string(out), "host secret") || !strings.Contains(string(out), mark) {
		t.Fatalf("positive control: a child did not inherit the descriptors (%v): %s", err, out)
	}

	const name = "attack-fds"
	h.stopOnCleanup(t, name)
	mustSucceed(t, withFiles("instance", "start", "--boot", "--boot-hostnet", img, name), "start with descriptors open")
	inst := getInstance(t, name)
	leaks := func(pid int) []string {
		var found []string
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatalf("reading the descriptors of %d: %v", pid, err)
		}
		for _, e := range entries {
			target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
			if strings.Contains(target, mark) {
				found = append(found, e.Name()+" -> "+target)
			}
		}
		return found
	}
	monitor := statusField(t, inst.Pid, "PPid")
	var monitorPID int
	fmt.Sscan(monitor, &monitorPID)
	for what, pid := range map[string]int{"init": inst.Pid, "the monitor": monitorPID} {
		if l := leaks(pid); len(l) > 0 {
			t.Errorf("%s holds the caller's descriptors: %v", what, l)
		}
	}
	r := withFiles("exec", "instance://"+name, "sh", "-c", `for f in /proc/$$/fd/*; do readlink "$f"; done; cat /proc/$$/fd/3/secret 2>&1`)
	if strings.Contains(r.Stdout, mark) || strings.Contains(r.Stdout, "host secret") {
		t.Errorf("a joined process got the caller's descriptors:\n%s", r)
	}
	if b, err := os.ReadFile(logPath); err != nil || len(b) != 0 {
		t.Errorf("the root-only log was written to (%v): %q", err, b)
	}
}

// TestAttackCallerKeyring: a key in the session keyring of whoever starts
// an instance, or joins one, is not in the instance's. The instance here is
// a plain one (no seccomp filter, which would refuse keyctl anyway), so
// only the keyring boundary is tested.
func TestAttackCallerKeyring(t *testing.T) {
	dir := t.TempDir()
	probe := filepath.Join(dir, "keyprobe")
	src := filepath.Join(dir, "keyprobe.c")
	// Exits 0 when a "user" key named TOPSECRET is in its session keyring.
	code := "#include <unistd.h>\n#include <sys/syscall.h>\nint main(void) {\n" +
		"\tlong id = syscall(SYS_keyctl, 10 /* KEYCTL_SEARCH */, -3 /* session */, \"user\", \"TOPSECRET\", 0);\n" +
		"\treturn id > 0 ? 0 : 1;\n}\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cc", "-static", "-O2", "-o", probe, src).CombinedOutput(); err != nil {
		t.Fatalf("building the key probe: %v\n%s", err, out)
	}
	img, err := makeBusyboxRootfs(filepath.Join(dir, "img"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(img, "keyprobe"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	// PID 1's child reports what it finds.
	if err := os.MkdirAll(filepath.Join(img, ".singularity.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := "#!/bin/sh\nif /keyprobe; then echo found > /tmp/keys; else echo absent > /tmp/keys; fi\nexec sleep 600\n"
	if err := os.WriteFile(filepath.Join(img, ".singularity.d", "startscript"), []byte(start), 0o755); err != nil {
		t.Fatal(err)
	}
	// withKey runs a command in a new session keyring holding TOPSECRET
	// (keyctl join, add_key, then exec; perl is on the host).
	withKey := func(args ...string) result {
		// perl's syscall passes strings as writable buffers: variables,
		// not literals.
		a := append([]string{"-e", `my ($n, $t, $d, $p) = ("e2e", "user", "TOPSECRET", "x"); syscall(250, 1, $n) > 0 or die "join: $!"; syscall(248, $t, $d, $p, 1, -3) > 0 or die "add_key: $!"; exec @ARGV or die "exec: $!"`}, args...)
		return apptainerCmd(t, nil, "perl", a...)
	}
	// Positive control: the probe, run in that keyring, finds the key.
	if r := withKey(probe); r.Code != 0 {
		t.Fatalf("positive control: the probe did not find the key in its own session keyring:\n%s", r)
	}
	const name = "attack-keys"
	stopOnCleanup(t, name)
	mustSucceed(t, withKey(env.Bin, "instance", "start", img, name), "start with a key in the session keyring")
	waitFor(t, 30*time.Second, "the startscript to report on its keyring", func() (bool, string) {
		r := apptainer(t, "exec", "instance://"+name, "cat", "/tmp/keys")
		return r.Code == 0 && strings.TrimSpace(r.Stdout) != "", r.String()
	})
	if r := apptainer(t, "exec", "instance://"+name, "cat", "/tmp/keys"); strings.TrimSpace(r.Stdout) != "absent" {
		t.Errorf("PID 1's child found the key of the caller of instance start: %q", r.Stdout)
	}
	if r := withKey(env.Bin, "exec", "instance://"+name, "/keyprobe"); r.Code == 0 {
		t.Errorf("a joined process found the key of the caller of exec instance://:\n%s", r)
	}
}

// TestAttackForeignNotify: an unprivileged host user cannot reach the
// notify socket, and a READY=1 from anyone who can but the instance's init
// (host root here, standing for another process of the instance) must
// not make instance start report the instance started.
func TestAttackForeignNotify(t *testing.T) {
	img := silentSystemdImage(t) // waited on for READY=1, which it never sends
	const name = "attack-notify"
	stopOnCleanup(t, name)
	start, startErr, startDone, entry := startBooting(t, img, name)
	sock := filepath.Join("/run/apptainer/instances/root", name, "host", "notify")
	sendAs := func(prefix ...string) result {
		args := append(prefix, "perl", "-MSocket", "-e",
			`socket(S, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!"; send(S, "READY=1\nSTATUS=forged ready", 0, pack_sockaddr_un($ARGV[0])) or die "send: $!"`, sock)
		return apptainerCmd(t, nil, args[0], args[1:]...)
	}
	// As nobody: refused by the socket's mode.
	if r := sendAs("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"); r.Code == 0 || !strings.Contains(r.Stderr, "Permission denied") {
		t.Errorf("an unprivileged host user could send to the notify socket:\n%s", r)
	}
	// As root, which may: delivered (sendto succeeds) ...
	if send := sendAs("env"); send.Code != 0 {
		t.Fatalf("positive control: root could not send to the notify socket, so nothing was tested:\n%s", send)
	}
	// ... and ignored: the monitor says so in its log, and the instance
	// is still starting.
	waitFor(t, 30*time.Second, "the monitor to log the ignored notification", func() (bool, string) {
		b, _ := os.ReadFile(entry.LogErrPath)
		return strings.Contains(string(b), "ignored a notification from PID"), string(b)
	})
	select {
	case err := <-startDone:
		t.Fatalf("instance start returned (%v) after a forged READY=1:\n%s", err, startErr.String())
	default:
	}
	if list := listInstances(t, name); len(list) != 1 || list[0].State != "starting" {
		t.Errorf("after a forged READY=1 the instance is %+v, want still starting", list)
	}
	mustSucceed(t, apptainer(t, "instance", "stop", "-t", "5", name), "stop")
	select {
	case <-startDone:
	case <-time.After(60 * time.Second):
		_ = start.Process.Kill()
		t.Fatal("instance start still waits after its instance was stopped")
	}
	if strings.Contains(startErr.String(), "forged ready") {
		t.Errorf("the forged STATUS= was printed:\n%s", startErr.String())
	}
}

// TestAttackConsoleFlood: what an instance writes to its console cannot
// fill the host's disk: the log is rotated at boot console log size, one
// rotated file kept. The positive control is the same flood with rotation
// off (0), which the log takes whole.
func TestAttackConsoleFlood(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	const flood = 5 << 20
	for _, tt := range []struct {
		mib  int
		name string
	}{{0, "flood-unbounded"}, {1, "flood-bounded"}} {
		t.Run(tt.name, func(t *testing.T) {
			withConf(t, fmt.Sprintf("boot console log size = %d", tt.mib))
			startHostnet(t, h, "userns", img, tt.name)
			inst := getInstance(t, tt.name)
			// The image's console-getty hangs up and flushes the console
			// when it starts (TTYVHangup=, TTYReset=), which can come after
			// READY: a flood written then loses what was queued, and the
			// writer gets EIO. Flood once systemd is done, and fail on a
			// write error rather than count bytes that were never logged.
			waitBootSettled(t, h, tt.name)
			// Marked at the end, so the test knows when all of it is through.
			mustSucceed(t, h.inInstance(t, tt.name, fmt.Sprintf("head -c %d /dev/zero | tr '\\000' x > /dev/console && echo FLOOD-END > /dev/console", flood)), "flood the console")
			waitFor(t, 60*time.Second, "the end of the flood in the console log", func() (bool, string) {
				b, err := os.ReadFile(inst.LogOutPath)
				return err == nil && strings.Contains(string(b), "FLOOD-END"), fmt.Sprint(err)
			})
			out, err := os.Stat(inst.LogOutPath)
			if err != nil {
				t.Fatal(err)
			}
			rotated, rerr := os.Stat(inst.LogOutPath + ".1")
			if tt.mib == 0 {
				if out.Size() < flood {
					t.Fatalf("positive control: without rotation the log holds %d bytes, less than the %d written", out.Size(), flood)
				}
				return
			}
			limit := int64(tt.mib) << 20
			if out.Size() > limit || rerr != nil || rotated.Size() > limit {
				t.Errorf("log %d bytes, rotated log %v (%v): want both at most %d", out.Size(), rotated, rerr, limit)
			}
			if more, _ := filepath.Glob(inst.LogOutPath + ".[2-9]*"); len(more) > 0 {
				t.Errorf("more than one rotated log: %v", more)
			}
		})
	}
}

// TestAttackHostIPC: a booted instance on the host network has an IPC
// namespace of its own in both modes: a host shared memory segment is not
// visible inside. The positive control is the host's own listing.
func TestAttackHostIPC(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	out, err := exec.Command("ipcmk", "-M", "4096").CombinedOutput()
	if err != nil {
		t.Fatalf("ipcmk: %v %s", err, out)
	}
	f := strings.Fields(string(out))
	id := f[len(f)-1]
	t.Cleanup(func() { _ = exec.Command("ipcrm", "-m", id).Run() })
	if host := output(t, "ipcs", "-m"); !strings.Contains(host, " "+id+" ") {
		t.Fatalf("positive control: the host does not list its segment %s:\n%s", id, host)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			name := "attack-ipc-" + m.name
			startHostnet(t, h, m.name, img, name)
			r := h.inInstance(t, name, "ipcs -m")
			mustSucceed(t, r, "ipcs inside")
			if strings.Contains(r.Stdout, " "+id+" ") {
				t.Errorf("the host's shared memory segment %s is visible inside:\n%s", id, r.Stdout)
			}
		})
	}
}

// TestAttackOpenByHandle: open_by_handle_at turns a handle into an open
// file of the whole file system, whatever was bound: with a bind of one
// directory, a handle for the file system's root (ext4: inode 2) opens the
// host's root. The probe is a small static program; the positive control
// runs it on the host.
func TestAttackOpenByHandle(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "byhandle.c")
	probe := filepath.Join(dir, "byhandle")
	code := `#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
int main(int argc, char **argv) {
	struct { struct file_handle h; unsigned char f[128]; } fh;
	int mount_id;
	fh.h.handle_bytes = 128;
	if (name_to_handle_at(AT_FDCWD, argv[1], &fh.h, &mount_id, 0) < 0) { perror("name_to_handle_at"); return 2; }
	if (fh.h.handle_type != 1 && fh.h.handle_type != 2) { printf("handle type %d is not ext4's\n", fh.h.handle_type); return 3; }
	unsigned int root[2] = {2, 0};
	memcpy(fh.h.f_handle, root, sizeof(root));
	fh.h.handle_bytes = 8;
	fh.h.handle_type = 1;
	int dirfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	int fd = open_by_handle_at(dirfd, &fh.h, O_RDONLY | O_DIRECTORY);
	if (fd < 0) { perror("open_by_handle_at"); return 1; }
	struct stat st;
	if (fstatat(fd, argv[2], &st, 0) < 0) { perror("fstatat"); return 4; }
	printf("reached %s outside the bind\n", argv[2]);
	return 0;
}
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cc", "-static", "-O2", "-o", probe, src).CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	// The bound directory and a file elsewhere on the same file system.
	bound := filepath.Join(dir, "bound")
	if err := os.Mkdir(bound, 0o755); err != nil {
		t.Fatal(err)
	}
	outside, err := filepath.Rel("/", filepath.Join(dir, "outside-marker"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/"+outside, []byte("host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rootSt, boundSt syscallStat
	if statDev("/", &rootSt) != nil || statDev(bound, &boundSt) != nil || rootSt.dev != boundSt.dev {
		t.Skipf("the test directory is not on the root file system: the root inode trick does not apply")
	}
	ctl := exec.Command(probe, bound, outside)
	if out, err := ctl.CombinedOutput(); err != nil {
		t.Skipf("positive control: the probe does not reach %s from the host either (%v: %s); the file system does not take ext4 handles", outside, err, out)
	}
	layer := t.TempDir()
	b, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(layer, "usr/local/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(layer, "usr/local/bin/byhandle"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	img := linkedImage(t, bootImage(t), layer)
	h := newFakeHost(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			name := "attack-handle-" + m.name
			startHostnet(t, h, m.name, img, name, "--bind", bound+":/sens")
			r := h.inInstance(t, name, "/usr/local/bin/byhandle /sens "+outside)
			if r.Code == 0 || !strings.Contains(r.Stderr, "open_by_handle_at: Operation not permitted") {
				t.Errorf("open_by_handle_at through a bind was not refused:\n%s", r)
			}
		})
	}
}

type syscallStat struct{ dev uint64 }

func statDev(p string, s *syscallStat) error {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return err
	}
	s.dev = st.Dev
	return nil
}

// TestAttackBindSetuid: root in a user-namespace instance must not be host
// root on a read-write bind. It makes a copy of id(1) setuid root in a
// bound directory that anyone may write (as a shared scratch directory
// is), and makes a host-root-owned copy there setuid too; an unprivileged
// host user then runs both. In the user-namespace mode neither may give
// euid 0, and no file it creates may belong to a host id outside the
// instance's range. The positive control is the no-user-namespace mode,
// where root inside is host root by design (for trusted images) and the
// same steps give euid 0.
func TestAttackBindSetuid(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	idBin, err := exec.LookPath("id")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			bound := filepath.Join(env.Top, fmt.Sprintf("scratch-%s-%d", m.name, time.Now().UnixNano()))
			if err := os.Mkdir(bound, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(bound) })
			if err := os.Chmod(bound, 0o1777); err != nil {
				t.Fatal(err)
			}
			if err := copyFile(idBin, filepath.Join(bound, "hostid")); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(bound, "hostid"), 0o755); err != nil {
				t.Fatal(err)
			}
			name := "attack-setuid-" + m.name
			startHostnet(t, h, m.name, img, name, "--bind", bound+":/scratch")
			inst := getInstance(t, name)
			// The host uid of root inside: the first of the instance's ids.
			var base uint32
			if uids := strings.Fields(statusField(t, inst.Pid, "Uid")); len(uids) > 0 {
				if v, err := strconv.ParseUint(uids[0], 10, 32); err == nil {
					base = uint32(v)
				}
			}
			if m.name == "userns" && base == 0 {
				t.Fatalf("cannot tell the host uid of root in %s", name)
			}
			// Each step on its own: one refused must not hide the others.
			r := h.inInstance(t, name, `cp /usr/bin/id /scratch/mine; chown 0:0 /scratch/mine; chmod 4755 /scratch/mine; chmod 4755 /scratch/hostid; ls -ln /scratch`)
			t.Logf("inside:\n%s", r)
			euidZero := func(file string) bool {
				out, _ := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", file).CombinedOutput()
				return strings.Contains(string(out), "euid=0")
			}
			for _, f := range []string{"mine", "hostid"} {
				path := filepath.Join(bound, f)
				var st syscall.Stat_t
				if err := syscall.Stat(path, &st); err != nil {
					if m.name == "userns" && f == "mine" {
						continue // not even created: nothing to run
					}
					t.Fatalf("%s: %v", path, err)
				}
				gotRoot := euidZero(path)
				if m.name == "no-userns" {
					if !gotRoot {
						t.Errorf("positive control: %s (uid %d, mode %o) did not give euid 0 without a user namespace", f, st.Uid, st.Mode&0o7777)
					}
					continue
				}
				if gotRoot {
					t.Errorf("%s (uid %d, mode %o), made setuid inside, gave an unprivileged host user euid 0", f, st.Uid, st.Mode&0o7777)
				}
				if f == "mine" && (st.Uid < base || st.Uid >= base+65536 || st.Gid < base || st.Gid >= base+65536) {
					t.Errorf("a file root inside created on the bind is owned by host %d:%d, outside the instance's ids %d+65536", st.Uid, st.Gid, base)
				}
				if f == "hostid" && st.Mode&(syscall.S_ISUID|syscall.S_ISGID) != 0 {
					t.Errorf("root inside set mode %o on a host root file of the bind", st.Mode&0o7777)
				}
			}
		})
	}
}
