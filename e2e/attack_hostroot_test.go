//go:build e2e

package e2e

// Issue 14, finding 4: without a user namespace root in a booted instance
// is host root. The device policy, the seccomp filter, the masked /proc
// paths and the instance's own cgroups take the worst of that away; what
// they leave is listed in docs/boot-hostnet.md and asserted here as still
// possible. Each attack runs in both modes and first as root on the fake
// host, where it must work (the positive control).

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// keyValues parses the "key: value" lines the attack scripts print; a key
// printed twice keeps its last value.
func keyValues(out string) map[string]string {
	kv := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv
}

// runScript runs script with sh -c and args: in instance name when name is
// set, else as root on the fake host.
func (h *fakeHost) runScript(t *testing.T, name, script string, args ...string) result {
	t.Helper()
	if name != "" {
		return h.apptainer(t, append([]string{"exec", "instance://" + name, "sh", "-c", script, "sh"}, args...)...)
	}
	a := h.nsenterArgs(append([]string{"sh", "-c", script, "sh"}, args...)...)
	return apptainerCmd(t, nil, a[0], a[1:]...)
}

// deviceAttack creates, in directory $1, a node of /dev/null (which every
// policy allows: it shows whether mknod works at all), of the host's block
// device $2:$3 and of /dev/loop-control; it reads the disk, mounts it when
// $4 is set and opens loop-control, and prints how each step went.
const deviceAttack = `d="$1"; mkdir -p "$d" "$d/mnt"; rm -f "$d/disk" "$d/loopctl" "$d/null"
echo "dir-options: $(findmnt -no VFS-OPTIONS -T "$d")"
if out=$( (mknod "$d/null" c 1 3 && echo x > "$d/null") 2>&1); then echo "mknod-null: ok"; else echo "mknod-null: $out"; fi
if out=$(mknod "$d/disk" b "$2" "$3" 2>&1); then echo "mknod-disk: ok"; else echo "mknod-disk: $out"; fi
if out=$(dd if="$d/disk" of=/dev/null bs=512 count=1 2>&1); then echo "read-disk: ok"; else echo "read-disk: $out"; fi
if [ -n "$4" ]; then
	if out=$(mount "$d/disk" "$d/mnt" 2>&1); then echo "mount-disk: ok"; umount "$d/mnt"; else echo "mount-disk: $out"; fi
fi
if out=$(mknod "$d/loopctl" c 10 237 2>&1); then echo "mknod-loop: ok"; else echo "mknod-loop: $out"; fi
if out=$(perl -e 'open(my $f, "+<", $ARGV[0]) or die "$!\n"' "$d/loopctl" 2>&1); then echo "open-loop: ok"; else echo "open-loop: $out"; fi
if [ -e /dev/loop-control ]; then
	if out=$(perl -e 'open(my $f, "+<", $ARGV[0]) or die "$!\n"' /dev/loop-control 2>&1); then echo "open-dev-loop: ok"; else echo "open-dev-loop: $out"; fi
else echo "open-dev-loop: absent"; fi
rm -f "$d/disk" "$d/loopctl" "$d/null"`

// eperm is how the tools print EPERM.
const eperm = "Operation not permitted"

// diskTarget is a block device of the host the device attack goes for.
type diskTarget struct {
	what         string // for messages
	major, minor string
	mount        bool // the positive control mounts it as well
}

// loopDisk makes a small ext4 file system holding a file "secret", attaches
// it to a loop device on the fake host until the test ends, and returns
// that device: a disk of the host that host root can read and mount.
func loopDisk(t *testing.T, h *fakeHost) diskTarget {
	t.Helper()
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	if err := os.Mkdir(content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(content, "secret"), []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-d", content, img, "4M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	dev := strings.TrimSpace(h.mustRun(t, "losetup", "--find", "--show", img))
	t.Cleanup(func() {
		a := h.nsenterArgs("losetup", "-d", dev)
		if out, err := exec.Command(a[0], a[1:]...).CombinedOutput(); err != nil {
			t.Errorf("cleanup: losetup -d %s: %v %s", dev, err, out)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	return diskTarget{what: "loop disk " + dev, major: strconv.Itoa(int(unix.Major(st.Rdev))), minor: strconv.Itoa(int(unix.Minor(st.Rdev))), mount: true}
}

// TestAttackDevices: root inside can neither read a disk of the host
// through a device node of its own nor mount it, nor open
// /dev/loop-control. The disks are the one holding the test's files (when
// host root may read it: some virtual machines refuse even that) and a
// loop device with an ext4 file system.
func TestAttackDevices(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	var st unix.Stat_t
	hostDir := t.TempDir()
	if err := unix.Stat(hostDir, &st); err != nil {
		t.Fatal(err)
	}
	var targets []diskTarget
	// Positive control: as root on the fake host the nodes work.
	if unix.Major(st.Dev) != 0 {
		fs := diskTarget{what: "the disk holding " + hostDir, major: strconv.Itoa(int(unix.Major(st.Dev))), minor: strconv.Itoa(int(unix.Minor(st.Dev)))}
		pc := h.runScript(t, "", deviceAttack, hostDir, fs.major, fs.minor, "")
		mustSucceed(t, pc, "the device attack on the fake host")
		if got := keyValues(pc.Stdout); got["mknod-disk"] == "ok" && got["read-disk"] == "ok" {
			targets = append(targets, fs)
		} else {
			t.Logf("host root cannot read %s (%s:%s) on this machine either, so it is no target:\n%s", fs.what, fs.major, fs.minor, pc.Stdout)
		}
	}
	targets = append(targets, loopDisk(t, h))
	for _, d := range targets {
		mountToo := ""
		if d.mount {
			mountToo = "mount"
		}
		pc := h.runScript(t, "", deviceAttack, t.TempDir(), d.major, d.minor, mountToo)
		mustSucceed(t, pc, "the device attack on the fake host")
		got := keyValues(pc.Stdout)
		want := []string{"mknod-null", "mknod-disk", "read-disk", "mknod-loop", "open-loop"}
		if d.mount {
			want = append(want, "mount-disk")
		}
		for _, k := range want {
			if got[k] != "ok" {
				t.Fatalf("positive control: %s of %s failed as root on the fake host, so the attack proves nothing:\n%s", k, d.what, pc)
			}
		}
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newFakeHost(t)
			name := "devices-" + m.name
			startHostnet(t, h, m.name, img, name)
			for _, d := range targets {
				// /var/lib is on the instance's root (/tmp and /root are
				// nodev tmpfs), which is not nodev: a refusal there is the
				// device policy's (or the user namespace's).
				r := h.runScript(t, name, deviceAttack, "/var/lib/apptainer-e2e-devattack", d.major, d.minor, "mount")
				mustSucceed(t, r, "the device attack in the instance")
				got := keyValues(r.Stdout)
				t.Logf("%s (%s:%s) in the instance:\n%s", d.what, d.major, d.minor, r.Stdout)
				if strings.Contains(","+got["dir-options"]+",", ",nodev,") {
					t.Fatalf("the attack's directory is nodev (%s): a refusal would prove nothing about the device policy", got["dir-options"])
				}
				// Control: mknod itself works without a user namespace
				// (CAP_MKNOD is kept), so a refusal below is the policy's.
				if m.name == "no-userns" && got["mknod-null"] != "ok" {
					t.Errorf("control: creating and writing a /dev/null node in the instance failed: %q", got["mknod-null"])
				}
				if got["read-disk"] == "ok" {
					t.Errorf("root in the instance read %s", d.what)
				} else if !strings.Contains(got["mknod-disk"], eperm) && !strings.Contains(got["read-disk"], eperm) {
					t.Errorf("reading %s failed, but neither mknod nor the read with EPERM: mknod %q, read %q", d.what, got["mknod-disk"], got["read-disk"])
				}
				if got["mount-disk"] == "ok" {
					t.Errorf("root in the instance mounted %s", d.what)
				}
				if got["open-loop"] == "ok" {
					t.Error("root in the instance opened a loop-control node of its own")
				} else if !strings.Contains(got["mknod-loop"], eperm) && !strings.Contains(got["open-loop"], eperm) {
					t.Errorf("opening loop-control failed, but neither mknod nor open with EPERM: mknod %q, open %q", got["mknod-loop"], got["open-loop"])
				}
				if got["open-dev-loop"] == "ok" {
					t.Error("root in the instance opened /dev/loop-control")
				}
			}
		})
	}
}

// keyringAttack calls the keyring system calls through perl's syscall
// (x86_64 numbers) and prints each result and errno: keyctl
// (KEYCTL_GET_KEYRING_ID of the user keyring, which is host root's for
// host root), add_key of a "user" key to the process keyring (which dies
// with the process) and request_key of a key nobody has.
const keyringAttack = `perl -e 'my $r = syscall(250, 0, -4, 0, 0, 0); print "keyctl: $r $!\n"'
perl -e 'my ($t, $d, $p) = ("user", "apptainer-e2e-attack", "x"); my $r = syscall(248, $t, $d, $p, 1, -2); print "add_key: $r $!\n"'
perl -e 'my ($t, $d) = ("user", "apptainer-e2e-nonexistent"); my $r = syscall(249, $t, $d, 0, 0); print "request_key: $r $!\n"'`

// TestAttackKeyring: the kernel keyrings are not namespaced; the seccomp
// filter refuses keyctl, add_key and request_key in both modes.
func TestAttackKeyring(t *testing.T) {
	img := bootImage(t)
	pc := newFakeHost(t).runScript(t, "", keyringAttack)
	mustSucceed(t, pc, "the keyring calls on the fake host")
	got := keyValues(pc.Stdout)
	if id, _, _ := strings.Cut(got["keyctl"], " "); id == "" || strings.HasPrefix(id, "-") {
		t.Fatalf("positive control: keyctl on the fake host: %q, want a keyring id:\n%s", got["keyctl"], pc)
	}
	if id, _, _ := strings.Cut(got["add_key"], " "); id == "" || strings.HasPrefix(id, "-") {
		t.Fatalf("positive control: add_key on the fake host: %q, want a key id:\n%s", got["add_key"], pc)
	}
	if strings.Contains(got["request_key"], eperm) || !strings.HasPrefix(got["request_key"], "-1 ") {
		t.Fatalf("positive control: request_key of a missing key on the fake host: %q, want -1 and an error that is not EPERM:\n%s", got["request_key"], pc)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newFakeHost(t)
			name := "keyring-" + m.name
			startHostnet(t, h, m.name, img, name)
			r := h.runScript(t, name, keyringAttack)
			mustSucceed(t, r, "the keyring calls in the instance")
			got := keyValues(r.Stdout)
			for _, call := range []string{"keyctl", "add_key", "request_key"} {
				if got[call] != "-1 "+eperm {
					t.Errorf("%s in the instance: %q, want \"-1 %s\"", call, got[call], eperm)
				}
			}
		})
	}
}

// v1Hierarchies returns the mount options of every cgroup v1 hierarchy
// this process is in ("memory", "cpu,cpuacct", "none,name=systemd").
func v1Hierarchies(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || f[0] == "0" {
			continue
		}
		if name, ok := strings.CutPrefix(f[1], "name="); ok {
			out = append(out, "none,name="+name)
		} else {
			out = append(out, f[1])
		}
	}
	return out
}

// releaseAgentAttack mounts each cgroup v1 hierarchy named in its
// arguments at $1 and prints whether release_agent is there and whether
// it can be written (with its own value: nothing changes when it can),
// then tries to create a new named hierarchy with mount(2) itself, so
// that the kernel's error shows (mount(8) words EPERM and EACCES alike).
const releaseAgentAttack = `d="$1"; shift; mkdir -p "$d"
for o in "$@"; do
	if ! out=$(mount -t cgroup -o "$o" cgroup "$d" 2>&1); then echo "$o: mount failed: $out"; continue; fi
	if [ -e "$d/release_agent" ]; then
		if (printf '%s\n' "$(cat "$d/release_agent")" > "$d/release_agent") 2>/dev/null; then echo "$o: writable"; else echo "$o: present"; fi
	elif [ -e "$d/cgroup.procs" ]; then echo "$o: absent"
	else echo "$o: not a cgroup mount"; fi
	umount "$d"
done
if out=$(perl -e 'my ($s, $t, $o) = ("cgroup", $ARGV[0], "none,name=apptainer-e2e-evil"); syscall(165, $s, $t, $s, 0, $o) == 0 or die "$!\n"' "$d" 2>&1); then echo "new-hierarchy: mounted"; umount "$d"; else echo "new-hierarchy: $out"; fi`

// TestAttackCgroupReleaseAgent: without a user namespace the instance has a
// cgroup of its own in every v1 hierarchy, the root of its cgroup
// namespace, so a v1 hierarchy mounted inside shows no release_agent. In a
// user namespace the instance stays in the host's v1 cgroups (only
// cgroup2 is its own), and release_agent may show, but the kernel lets
// only the initial user namespace write it. In neither mode can a new
// hierarchy be made (only the initial cgroup namespace may).
func TestAttackCgroupReleaseAgent(t *testing.T) {
	hier := v1Hierarchies(t)
	if len(hier) == 0 {
		t.Skip("no cgroup v1 hierarchy on this machine: there is no release_agent to attack")
	}
	img := bootImage(t)
	pc := newFakeHost(t).runScript(t, "", releaseAgentAttack, append([]string{t.TempDir()}, hier...)...)
	mustSucceed(t, pc, "the release_agent attack on the fake host")
	got := keyValues(pc.Stdout)
	for _, o := range hier {
		if got[o] != "writable" {
			t.Errorf("positive control: on the fake host, hierarchy %s: %q, want a writable release_agent", o, got[o])
		}
	}
	if got["new-hierarchy"] != "mounted" {
		t.Errorf("positive control: on the fake host a new named hierarchy: %q, want mounted", got["new-hierarchy"])
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newFakeHost(t)
			name := "cgroup-" + m.name
			startHostnet(t, h, m.name, img, name)
			r := h.runScript(t, name, releaseAgentAttack, append([]string{"/tmp/cg"}, hier...)...)
			mustSucceed(t, r, "the release_agent attack in the instance")
			t.Logf("in the instance:\n%s", r.Stdout)
			got := keyValues(r.Stdout)
			for _, o := range hier {
				switch {
				case m.name == "no-userns" && got[o] != "absent":
					t.Errorf("hierarchy %s in the instance: %q, want mounted without release_agent", o, got[o])
				case got[o] == "writable":
					t.Errorf("hierarchy %s in the instance: release_agent is writable", o)
				case got[o] == "" || got[o] == "not a cgroup mount":
					t.Errorf("hierarchy %s in the instance: %q", o, got[o])
				}
			}
			if got["new-hierarchy"] == "mounted" || !strings.Contains(got["new-hierarchy"], eperm) {
				t.Errorf("a new named cgroup hierarchy from the instance: %q, want EPERM", got["new-hierarchy"])
			}
		})
	}
}

// binfmtEntry is the handler name the binfmt_misc attack registers; it
// matches files ending in .e2eattack and runs /bin/false for them.
const (
	binfmtEntry = "apptainer-e2e-attack"
	binfmtRule  = ":" + binfmtEntry + ":E::e2eattack::/bin/false:"
)

// binfmtAttack looks at the masked /proc/sys/fs/binfmt_misc, then mounts
// binfmt_misc at $1 and registers the rule $2 there. It leaves the mount
// in place: the handlers of a binfmt_misc instance go when its last mount
// does.
const binfmtAttack = `m=/proc/sys/fs/binfmt_misc
echo "masked-fstype: $(findmnt -no FSTYPE -M $m)"
echo "masked-entries: $(ls -A $m 2>&1 | tr '\n' ' ')"
d="$1"; mkdir -p "$d"
if ! out=$(mount -t binfmt_misc binfmt_misc "$d" 2>&1); then echo "mount: $out"; exit 0; fi
echo "mount: ok"
if out=$( (echo "$2" > "$d/register") 2>&1); then echo "register: ok"; else echo "register: $out"; fi`

// hostBinfmt mounts binfmt_misc on the fake host until the test ends, as
// a host's systemd does at /proc/sys/fs/binfmt_misc: it keeps the
// machine's binfmt_misc instance, and its handlers, alive (they go with
// its last mount), and is where the test reads them. At the end the
// handlers named are removed, then the mount.
func hostBinfmt(t *testing.T, h *fakeHost, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	h.mustRun(t, "mount", "-t", "binfmt_misc", "binfmt_misc", dir)
	t.Cleanup(func() {
		for _, n := range names {
			a := h.nsenterArgs("sh", "-c", `[ ! -e "$1" ] || echo -1 > "$1"`, "sh", filepath.Join(dir, n))
			if out, err := exec.Command(a[0], a[1:]...).CombinedOutput(); err != nil {
				t.Errorf("cleanup: cannot remove the binfmt_misc handler %s: %v %s", n, err, out)
			}
		}
		a := h.nsenterArgs("umount", dir)
		if out, err := exec.Command(a[0], a[1:]...).CombinedOutput(); err != nil {
			t.Errorf("cleanup: umount binfmt_misc: %v %s", err, out)
		}
	})
	return dir
}

// binfmtState is the first line of the host's handler name ("enabled"),
// or "absent".
func binfmtState(t *testing.T, h *fakeHost, dir, name string) string {
	t.Helper()
	return strings.TrimSpace(h.mustRun(t, "sh", "-c", `if [ -e "$1" ]; then head -n 1 "$1"; else echo absent; fi`, "sh", filepath.Join(dir, name)))
}

// TestAttackBinfmt: the instance's /proc/sys/fs/binfmt_misc is masked. A
// binfmt_misc of its own: in a user namespace it is the namespace's, and
// nothing reaches the host; without one it is the host's, and a handler
// registered there is a handler of the host (documented as still
// possible), which the guard reports.
func TestAttackBinfmt(t *testing.T) {
	img := bootImage(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newFakeHost(t)
			const control = "apptainer-e2e-control"
			bm := hostBinfmt(t, h, binfmtEntry, control)
			// Positive control of the check: a handler registered as root
			// on the host is seen by it.
			pc := h.runScript(t, "", binfmtAttack, t.TempDir(), ":"+control+":E::e2econtrol::/bin/false:")
			mustSucceed(t, pc, "registering a handler on the fake host")
			if got := keyValues(pc.Stdout); got["mount"] != "ok" || got["register"] != "ok" {
				t.Fatalf("positive control: registering a binfmt_misc handler as host root failed:\n%s", pc)
			}
			if st := binfmtState(t, h, bm, control); st != "enabled" {
				t.Fatalf("positive control: the handler registered on the host is %q in the host's binfmt_misc, want enabled", st)
			}
			h.mustRun(t, "sh", "-c", `echo -1 > "$1"`, "sh", filepath.Join(bm, control))
			if st := binfmtState(t, h, bm, binfmtEntry); st != "absent" {
				t.Fatalf("the host has a handler %s before the test (%s)", binfmtEntry, st)
			}

			name := "binfmt-" + m.name
			startHostnet(t, h, m.name, img, name)
			r := h.runScript(t, name, binfmtAttack, "/tmp/bm", binfmtRule)
			mustSucceed(t, r, "the binfmt_misc attack in the instance")
			t.Logf("in the instance:\n%s", r.Stdout)
			got := keyValues(r.Stdout)
			if got["masked-fstype"] != "tmpfs" || got["masked-entries"] != "" {
				t.Errorf("/proc/sys/fs/binfmt_misc in the instance is not an empty mask: file system %q, entries %q", got["masked-fstype"], got["masked-entries"])
			}
			st := binfmtState(t, h, bm, binfmtEntry)
			if m.name == "userns" {
				if st != "absent" {
					t.Errorf("a handler registered in the instance is in the host's binfmt_misc (%q)", st)
				}
				return
			}
			// Without a user namespace: still possible, and reported.
			if got["register"] != "ok" || st != "enabled" {
				t.Fatalf("without a user namespace, registering a host handler from the instance (documented as possible): register %q, host entry %q", got["register"], st)
			}
			diff := h.apptainer(t, "hostnet", "diff", "--json", name)
			if diff.Code != 1 || !hasChange(t, diff.Stdout, "binfmt_misc", binfmtEntry, "") {
				t.Errorf("hostnet diff does not report the new binfmt_misc handler:\n%s", diff)
			}
		})
	}
}

// TestAttackRemountBinds: without a user namespace root inside can remount
// the runtime's read-only binds of host files read-write (documented:
// root there is host root). The user-namespace mode is
// TestAttackReadOnlyMountsLocked.
func TestAttackRemountBinds(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	const name = "remount-binds"
	startHostnet(t, h, "no-userns", img, name)
	installScript(t, h, name, "/tmp/remount-rw", remountRW)
	for _, target := range []string{"/etc/hosts", "/etc/localtime", "/etc/resolv.conf"} {
		t.Run(strings.TrimPrefix(target, "/etc/"), func(t *testing.T) {
			r := h.inInstance(t, name, "findmnt -no TARGET,VFS-OPTIONS -M "+target)
			f := strings.Fields(r.Stdout)
			if r.Code != 0 || len(f) != 2 || f[0] != target || !strings.Contains(","+f[1]+",", ",ro,") {
				t.Fatalf("%s is not a read-only mount of its own in the instance:\n%s", target, r)
			}
			if r := h.inInstance(t, name, "sh /tmp/remount-rw "+target); r.Code != 0 {
				t.Errorf("without a user namespace, remounting %s read-write (documented as possible) failed:\n%s", target, r)
			}
		})
	}
}

// reusePortListener is a listener with SO_REUSEPORT on 127.0.0.1:$ARGV[0];
// it prints "bound" once it listens, then waits for stdin to close.
const reusePortListener = `use Socket;
socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
setsockopt($s, SOL_SOCKET, SO_REUSEPORT, 1) or die "setsockopt: $!\n";
bind($s, pack_sockaddr_in($ARGV[0], inet_aton("127.0.0.1"))) or die "bind: $!\n";
listen($s, 16) or die "listen: $!\n";
$| = 1; print "bound\n"; <STDIN>;`

// hostListener runs reusePortListener as root on the fake host until the
// test ends, and returns once it listens.
func hostListener(t *testing.T, h *fakeHost, port int) {
	t.Helper()
	a := h.nsenterArgs("perl", "-e", reusePortListener, strconv.Itoa(port))
	cmd := exec.Command(a[0], a[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if strings.TrimSpace(l) != "bound" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the host's listener on port %d did not start: %q %s", port, l, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the host's listener on port %d did not say it listens within 10 s: %s", port, stderr.String())
	}
}

// TestAttackReusePort: a host root service listens with SO_REUSEPORT. In a
// user namespace root inside is another uid, and the kernel keeps it out
// of the service's port group; without one it joins the group (and gets a
// share of the service's connections): documented as still possible.
func TestAttackReusePort(t *testing.T) {
	img := bootImage(t)
	const port = 5421
	bind := `perl -e '` + strings.ReplaceAll(reusePortListener, "<STDIN>;", "") + `' `
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newFakeHost(t)
			hostListener(t, h, port)
			name := "reuseport-" + m.name
			startHostnet(t, h, m.name, img, name)
			// Control: the same listener inside binds a port no one holds.
			if r := h.inInstance(t, name, bind+strconv.Itoa(port+1)); r.Code != 0 || strings.TrimSpace(r.Stdout) != "bound" {
				t.Fatalf("control: the listener cannot bind a free port in the instance, so the attack proves nothing:\n%s", r)
			}
			r := h.inInstance(t, name, bind+strconv.Itoa(port))
			if m.name == "userns" {
				if r.Code == 0 {
					t.Errorf("root in a user namespace joined the SO_REUSEPORT group of a host root service on 127.0.0.1:%d:\n%s", port, r)
				} else if !strings.Contains(r.Stderr, "bind: Address already in use") {
					t.Errorf("binding the host service's port failed, but not with EADDRINUSE:\n%s", r)
				}
				return
			}
			if r.Code != 0 || strings.TrimSpace(r.Stdout) != "bound" {
				t.Errorf("without a user namespace, joining the SO_REUSEPORT group of a host root service (documented as possible) failed:\n%s", r)
			}
		})
	}
}

// keyctl32 is a static i386 program (no libc) that calls keyctl
// (KEYCTL_GET_KEYRING_ID, the user keyring) through int 0x80 and exits
// with the error number, or 0 when the call succeeded.
const keyctl32 = `	.globl _start
_start:
	movl $288, %eax
	movl $0, %ebx
	movl $-4, %ecx
	xorl %edx, %edx
	int $0x80
	movl $0, %ebx
	cmpl $0, %eax
	jge 1f
	movl %eax, %ebx
	negl %ebx
1:
	movl $1, %eax
	int $0x80
`

// buildKeyctl32 assembles keyctl32 into dir/keyctl32, or says why it
// cannot.
func buildKeyctl32(dir string) (string, error) {
	src, obj, bin := filepath.Join(dir, "keyctl32.S"), filepath.Join(dir, "keyctl32.o"), filepath.Join(dir, "keyctl32")
	if err := os.WriteFile(src, []byte(keyctl32), 0o644); err != nil {
		return "", err
	}
	for _, c := range [][]string{{"as", "--32", "-o", obj, src}, {"ld", "-m", "elf_i386", "-static", "-o", bin, obj}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %v %s", strings.Join(c, " "), err, out)
		}
	}
	return bin, os.Remove(obj)
}

// TestAttackSeccompI386: the seccomp filter covers the i386 system call
// ABI as well: keyctl through int 0x80 fails with EPERM inside.
func TestAttackSeccompI386(t *testing.T) {
	layer := t.TempDir()
	if err := os.Chmod(layer, 0o755); err != nil {
		t.Fatal(err)
	}
	bindir := filepath.Join(layer, "usr", "local", "bin")
	if err := os.MkdirAll(bindir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := buildKeyctl32(bindir); err != nil {
		t.Skipf("cannot build a static i386 program on this machine: %v", err)
	}
	// Positive control: on the fake host keyctl through int 0x80 works
	// (and the kernel runs i386 programs at all).
	h := newFakeHost(t)
	pc := h.runScript(t, "", `"$1"; echo "exit: $?"`, filepath.Join(bindir, "keyctl32"))
	if got := keyValues(pc.Stdout)["exit"]; got != "0" {
		if strings.Contains(pc.Stderr, "Exec format error") {
			t.Skipf("this kernel does not run i386 programs:\n%s", pc)
		}
		t.Fatalf("positive control: keyctl through int 0x80 on the fake host exits %q, want 0 (success):\n%s", got, pc)
	}
	img := linkedImage(t, bootImage(t), layer)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newFakeHost(t)
			name := "i386-" + m.name
			startHostnet(t, h, m.name, img, name)
			r := h.inInstance(t, name, `/usr/local/bin/keyctl32; echo "exit: $?"`)
			if got := keyValues(r.Stdout)["exit"]; got != strconv.Itoa(int(unix.EPERM)) {
				t.Errorf("keyctl through int 0x80 in the instance exits %q, want %d (EPERM):\n%s", got, unix.EPERM, r)
			}
		})
	}
}
