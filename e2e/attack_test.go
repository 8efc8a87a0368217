//go:build e2e

package e2e

// The attack suite (issue 14): root in a booted --boot-hostnet instance is
// hostile, and tries to undo each safeguard from inside. Every attack that
// must fail carries a positive control, the same attack shown to work where
// the safeguard is absent, so that no test passes because the attack
// itself was broken.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// modes are the two ways a --boot-hostnet instance runs: in a user
// namespace (the default) and without one (boot hostnet userns = optional,
// --boot-hostnet-userns=false).
var modes = []struct {
	name string
	conf string
	args []string
}{
	{"userns", "", nil},
	{"no-userns", "boot hostnet userns = optional", []string{"--boot-hostnet-userns=false"}},
}

// startHostnet boots img with --boot-hostnet in mode on h, with extra
// start arguments, and stops it when the test ends.
func startHostnet(t *testing.T, h *fakeHost, mode string, img, name string, extra ...string) {
	t.Helper()
	args := []string{"instance", "start", "--boot", "--boot-hostnet"}
	for _, m := range modes {
		if m.name == mode {
			if m.conf != "" {
				withConf(t, m.conf)
			}
			args = append(args, m.args...)
		}
	}
	args = append(append(args, extra...), img, name)
	h.stopOnCleanup(t, name)
	mustSucceed(t, h.apptainer(t, args...), "start "+name+" ("+mode+")")
}

// inInstance runs a shell script as root in instance name.
func (h *fakeHost) inInstance(t *testing.T, name, script string) result {
	t.Helper()
	return h.apptainer(t, "exec", "instance://"+name, "sh", "-c", script)
}

// remountRW is the attack on a read-only mount: remount it read-write
// with mount(2) itself (util-linux refuses some remounts of file binds
// before trying), keeping the mount's other flags so that only the
// read-only flag is at stake, then check that the mount is read-write.
// Exit 3 with the kernel's error when mount(2) fails.
const remountRW = `m="$1"
opts=$(findmnt -no VFS-OPTIONS -T "$m")
flags=$((32 | 4096))
case ",$opts," in *,nosuid,*) flags=$((flags | 2));; esac
case ",$opts," in *,nodev,*) flags=$((flags | 4));; esac
case ",$opts," in *,noexec,*) flags=$((flags | 8));; esac
perl -e 'syscall(165, 0, $ARGV[0], 0, $ARGV[1] + 0, 0) == 0 or die "mount(2) of $ARGV[0]: $!\n"' "$m" "$flags" || exit 3
findmnt -no VFS-OPTIONS -T "$m" | grep -qE '(^|,)rw(,|$)' || exit 4
exit 0`

// TestAttackReadOnlyMountsLocked: in the default mode, no read-only mount
// the runtime makes can be remounted read-write from inside: a user's
// `:ro` bind (which root could otherwise turn into a setuid-root dropper
// on the host), sysfs, the generated /etc files, /run/host.
func TestAttackReadOnlyMountsLocked(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	hostDir := filepath.Join(t.TempDir(), "sens")
	if err := os.Mkdir(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "data"), []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const name = "attack-ro"
	startHostnet(t, h, "userns", img, name, "--bind", hostDir+":/sens:ro")

	installScript(t, h, name, "/tmp/remount-rw", remountRW)
	// Positive control: the attack works on a read-only bind that root in
	// the container made itself (its flags are not locked).
	pc := h.inInstance(t, name, `set -e; mkdir -p /tmp/pc-src /tmp/pc; mount --bind /tmp/pc-src /tmp/pc
mount -o remount,bind,ro /tmp/pc
if touch /tmp/pc/x 2>/dev/null; then echo "the control bind is not read-only"; exit 9; fi
sh /tmp/remount-rw /tmp/pc; touch /tmp/pc/x; umount /tmp/pc`)
	if pc.Code != 0 {
		t.Fatalf("positive control: remounting a container-made read-only bind read-write failed, so the attack proves nothing:\n%s", pc)
	}

	for _, target := range []string{"/sens", "/sys", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/host"} {
		t.Run(strings.TrimPrefix(target, "/"), func(t *testing.T) {
			if r := h.inInstance(t, name, "findmnt -no VFS-OPTIONS -T "+target+" | grep -qE '(^|,)ro(,|$)'"); r.Code != 0 {
				t.Fatalf("%s is not a read-only mount in the instance:\n%s", target, r)
			}
			r := h.inInstance(t, name, "sh /tmp/remount-rw "+target)
			if r.Code == 0 {
				t.Errorf("root in the instance remounted %s read-write:\n%s", target, r)
			} else if r.Code != 3 || !strings.Contains(r.Stderr, "Operation not permitted") {
				t.Errorf("remounting %s read-write failed, but not for lack of permission (want EPERM):\n%s", target, r)
			}
		})
	}
	if r := h.inInstance(t, name, "echo planted > /sens/planted"); r.Code == 0 {
		t.Error("root in the instance wrote into the read-only bind")
	}
	if _, err := os.Stat(filepath.Join(hostDir, "planted")); err == nil {
		t.Error("a file planted from inside the instance is in the host directory")
	}
}

// installScript writes script to path inside instance name.
func installScript(t *testing.T, h *fakeHost, name, path, script string) {
	t.Helper()
	r := h.inInstance(t, name, "cat > "+path+" <<'APPTAINER_E2E_EOF'\n"+script+"\nAPPTAINER_E2E_EOF\n")
	mustSucceed(t, r, "installing "+path+" in "+name)
}

// sysfsSuperOptions returns the super block options (the last field of
// /proc/self/mountinfo) of the sysfs mounted at dir, as the process run by
// run (a command runner) sees it.
func sysfsSuperOptions(t *testing.T, run func(...string) string, dir string) string {
	t.Helper()
	for _, line := range strings.Split(run("cat", "/proc/self/mountinfo"), "\n") {
		f := strings.Fields(line)
		sep := indexOf(f, "-")
		if len(f) > 4 && f[4] == dir && sep > 0 && len(f) > sep+3 && f[sep+1] == "sysfs" {
			return f[sep+3]
		}
	}
	t.Fatalf("no sysfs mounted at %s", dir)
	return ""
}

// TestAttackHostSysfsStaysWritable: without a user namespace the instance
// mounts a read-only sysfs of the host's network namespace; that must not
// make the host's sysfs (the same super block) read-only, during the
// instance's life or after it.
func TestAttackHostSysfsStaysWritable(t *testing.T) {
	img := bootImage(t)

	// Positive control: a plain remount of one sysfs mount of a network
	// namespace makes every sysfs mount of it read-only, and the check
	// below sees that.
	ctl := t.TempDir()
	script := "set -e; mkdir -p " + ctl + "/a " + ctl + "/b; mount -t sysfs sysfs " + ctl + "/a; mount -t sysfs sysfs " + ctl + "/b; " +
		"mount -o remount,ro " + ctl + "/a; cat /proc/self/mountinfo"
	out := output(t, "unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script)
	if got := sysfsSuperOptions(t, func(...string) string { return out }, ctl+"/b"); !strings.HasPrefix(got, "ro") {
		t.Fatalf("positive control: a super block remount did not show at the other sysfs mount (%q): the check proves nothing", got)
	}

	h := newFakeHost(t)
	hostSys := t.TempDir()
	// In the fake host's own mount namespace, which goes with it.
	h.mustRun(t, "mount", "-t", "sysfs", "sysfs", hostSys)
	run := func(args ...string) string { return h.mustRun(t, args...) }
	if got := sysfsSuperOptions(t, run, hostSys); !strings.HasPrefix(got, "rw") {
		t.Fatalf("the fake host's sysfs is %q before the test", got)
	}
	const name = "attack-sysfs"
	startHostnet(t, h, "no-userns", img, name)
	if r := h.inInstance(t, name, "findmnt -no VFS-OPTIONS /sys | grep -qE '(^|,)ro(,|$)'"); r.Code != 0 {
		t.Fatalf("/sys is not read-only in the instance:\n%s", r)
	}
	if got := sysfsSuperOptions(t, run, hostSys); !strings.HasPrefix(got, "rw") {
		t.Errorf("while the instance runs, the host's sysfs is %q", got)
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", name), "stop")
	if got := sysfsSuperOptions(t, run, hostSys); !strings.HasPrefix(got, "rw") {
		t.Errorf("after the instance stopped, the host's sysfs is %q", got)
	}
}

// TestUsernsInstanceFromPrivateDirectory: a build or install directory
// below a directory only root may enter (a clone in root's 0700 home) must
// not keep user-namespace instances from starting: the mapped root cannot
// reach the engine binary by its path (issue 14, finding 7).
func TestUsernsInstanceFromPrivateDirectory(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	private := filepath.Join(t.TempDir(), "private")
	bin := filepath.Join(private, "build")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"apptainer", "apptainer-engine", "apptainer-nsenter"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(env.Bin), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Positive control: an unprivileged uid cannot reach the binary (a
	// shell runs it: setpriv finds its program before it switches uid).
	if r := apptainerCmd(t, nil, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", `exec "$0" version`, filepath.Join(bin, "apptainer")); r.Code == 0 {
		t.Fatalf("positive control: uid 65534 ran %s, so the directory does not keep anyone out:\n%s", bin, r)
	}
	const name = "private-dir"
	h.stopOnCleanup(t, name)
	a := h.nsenterArgs(filepath.Join(bin, "apptainer"), "instance", "start", "--boot", "--boot-hostnet", img, name)
	mustSucceed(t, apptainerCmd(t, nil, a[0], a[1:]...), "start from a build directory below a 0700 directory")
	if r := h.inInstance(t, name, "cat /proc/self/uid_map"); r.Code != 0 || strings.Fields(r.Stdout)[1] == "0" {
		t.Errorf("the instance is not in a user namespace:\n%s", r)
	}
}
