//go:build e2e

package e2e

// Issue 20, second slice: --fakeroot and --userns. The user tests run as a
// user made for the test (rootless_test.go); subordinate ranges are given
// to it, and to root, in /etc/subuid and /etc/subgid, which are put back
// as they were at cleanup.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Subordinate ranges given for the tests: far above any id useradd hands
// out, so that nothing on the machine owns them.
const (
	subUIDStart = 1500000000
	subGIDStart = 1600000000
	subCount    = 65536
)

// withSubIDFiles gives each of names a range in /etc/subuid and
// /etc/subgid for the test (from the start ids on), in place of any entry
// it had (useradd gives a new user one where the files exist), and takes
// every entry of the users in drop away; each file is put back as it was
// at cleanup: removed when there was none.
func withSubIDFiles(t *testing.T, drop []string, names ...string) {
	t.Helper()
	for file, start := range map[string]int{"/etc/subuid": subUIDStart, "/etc/subgid": subGIDStart} {
		old, err := os.ReadFile(file)
		existed := err == nil
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if existed {
				if err := os.WriteFile(file, old, 0o644); err != nil {
					t.Errorf("cannot restore %s: %v", file, err)
				}
			} else if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cannot remove %s: %v", file, err)
			}
		})
		var b bytes.Buffer
		for _, line := range strings.Split(string(old), "\n") {
			name, _, _ := strings.Cut(line, ":")
			if line != "" && !slices.Contains(drop, name) && !slices.Contains(names, name) {
				b.WriteString(line + "\n")
			}
		}
		for i, n := range names {
			fmt.Fprintf(&b, "%s:%d:%d\n", n, start+i*subCount, subCount)
		}
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ownedBy fails t unless path is owned by uid:gid on the host.
func ownedBy(t *testing.T, path string, uid, gid int) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Errorf("%s not made on the host: %v", path, err)
		return
	}
	if int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s is %d:%d on the host, want %d:%d", path, st.Uid, st.Gid, uid, gid)
	}
}

// fields joins the whitespace-separated words of s with single spaces.
func fields(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestFakerootUser(t *testing.T) {
	rootlessSetup(t)
	usableFuse(t)
	if _, err := exec.LookPath("newuidmap"); err != nil {
		t.Fatalf("newuidmap is needed (scripts/install-deps.sh installs uidmap): %v", err)
	}
	u := newTestUser(t)
	dir := readableDir(t)
	sif := userBusyboxSIF(t, dir)
	data := filepath.Join(u.home, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	before := mountinfo(t)

	t.Run("no subordinate range: root-mapped namespace", func(t *testing.T) {
		withSubIDFiles(t, []string{u.name})
		r := u.run(t, "exec", "--fakeroot", "-B", data+":/data", env.Busybox, "sh", "-c", "id -u; id -g; cat /proc/self/uid_map; echo x > /data/plain")
		mustSucceed(t, r, "exec --fakeroot without a range")
		if got, want := fields(r.Stdout), fmt.Sprintf("0 0 0 %d 1", u.uid); got != want {
			t.Errorf("ids and uid map %q, want %q", got, want)
		}
		if !strings.Contains(r.Stderr, "User not listed in /etc/subuid, trying root-mapped namespace") {
			t.Errorf("no notice of the fallback:\n%s", r.Stderr)
		}
		ownedBy(t, filepath.Join(data, "plain"), u.uid, u.gid)
	})

	withSubIDFiles(t, nil, u.name)
	for _, img := range []string{env.Busybox, sif} {
		kind := filepath.Ext(img)
		if kind == "" {
			kind = "sandbox"
		}
		t.Run("subordinate range "+kind, func(t *testing.T) {
			f, d := "file-"+strings.TrimPrefix(kind, "."), "dir-"+strings.TrimPrefix(kind, ".")
			script := fmt.Sprintf("id -u; cat /proc/self/uid_map /proc/self/gid_map; echo x > /data/%s; mkdir /data/%s; chown 1:1 /data/%s", f, d, d)
			r := u.run(t, "exec", "--fakeroot", "-B", data+":/data", img, "sh", "-c", script)
			mustSucceed(t, r, "exec --fakeroot "+kind)
			want := fmt.Sprintf("0 0 %d 1 1 %d %d 0 %d 1 1 %d %d", u.uid, subUIDStart, subCount, u.gid, subGIDStart, subCount)
			if got := fields(r.Stdout); got != want {
				t.Errorf("uid and id maps %q, want %q", got, want)
			}
			// Root's files are the user's on the host, id 1's the first
			// subordinate id's.
			ownedBy(t, filepath.Join(data, f), u.uid, u.gid)
			ownedBy(t, filepath.Join(data, d), subUIDStart, subGIDStart)
		})
	}
	t.Run("id -u prints 0 and home is /root", func(t *testing.T) {
		r := u.run(t, "exec", "--fakeroot", env.Busybox, "sh", "-c", `id -u; echo "$HOME"; pwd`)
		mustSucceed(t, r, "exec --fakeroot id -u")
		if got := fields(r.Stdout); got != "0 /root /root" {
			t.Errorf("id, HOME, cwd = %q, want 0 /root /root", got)
		}
	})
	t.Run("the namespace's root cannot write root's files", func(t *testing.T) {
		rootFile := filepath.Join(readableDir(t), "rootfile")
		if err := os.WriteFile(rootFile, []byte("root's\n"), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(rootFile, 0o644); err != nil {
			t.Fatal(err)
		}
		r := u.run(t, "exec", "--fakeroot", "-B", rootFile+":/rootfile", env.Busybox, "sh", "-c", "grep CapEff /proc/self/status; echo owned >> /rootfile")
		if r.Code == 0 {
			t.Errorf("the container's root wrote to the host root's file:\n%s", r)
		}
		// Positive control: the process holds capabilities (it is root
		// in its namespace); they reach no file whose owner is unmapped.
		if strings.Contains(r.Stdout, "0000000000000000") || !strings.Contains(r.Stdout, "CapEff") {
			t.Errorf("the container's root holds no capability, the check proves nothing:\n%s", r)
		}
		if b, _ := os.ReadFile(rootFile); string(b) != "root's\n" {
			t.Errorf("root's file now holds %q", b)
		}
	})
	t.Run("from the host: the user's ids", func(t *testing.T) {
		u.startWaiting(t, "exec", "--fakeroot", env.Busybox)
		found := false
		for _, p := range processesOf(u.uid) {
			pid, _, _ := strings.Cut(p, ":")
			st, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
			if err != nil {
				continue
			}
			if strings.Contains(p, "read line") {
				found = true
			}
			for _, id := range append(strings.Fields(statusText(string(st), "Uid")), strings.Fields(statusText(string(st), "Gid"))...) {
				if id != strconv.Itoa(u.uid) && id != strconv.Itoa(u.gid) {
					t.Errorf("process %s has id %s on the host", p, id)
				}
			}
		}
		if !found {
			t.Errorf("the container's process is not the user's on the host: %q", processesOf(u.uid))
		}
	})
	t.Run("refused: --fakeroot --net", func(t *testing.T) {
		mustFail(t, u.run(t, "exec", "--fakeroot", "--net", env.Busybox, "true"), "the fakeroot CNI network needs a setuid installation")
	})
	t.Run("--userns: the user's own ids", func(t *testing.T) {
		r := u.run(t, "exec", "--userns", env.Busybox, "id", "-u")
		mustSucceed(t, r, "exec --userns")
		if got := strings.TrimSpace(r.Stdout); got != strconv.Itoa(u.uid) {
			t.Errorf("id -u = %q, want %d", got, u.uid)
		}
	})
	if after := mountinfo(t); after != before {
		t.Errorf("the host's mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestUsernsRoot(t *testing.T) {
	rootlessSetup(t)
	t.Run("--userns maps root to itself alone", func(t *testing.T) {
		r := apptainer(t, "exec", "--userns", env.Busybox, "sh", "-c", "id -u; cat /proc/self/uid_map")
		mustSucceed(t, r, "exec --userns as root")
		if got := fields(r.Stdout); got != "0 0 0 1" {
			t.Errorf("id and uid map %q, want 0 0 0 1", got)
		}
		// Control: without --userns root's container is in the host's
		// user namespace.
		r = apptainer(t, "exec", env.Busybox, "cat", "/proc/self/uid_map")
		mustSucceed(t, r, "exec as root")
		if got := fields(r.Stdout); got != "0 0 4294967295" {
			t.Errorf("root's uid map without --userns %q", got)
		}
	})
	t.Run("--fakeroot without root's range: refused", func(t *testing.T) {
		if _, err := os.Stat("/etc/subuid"); err == nil {
			if b, _ := os.ReadFile("/etc/subuid"); bytes.Contains(b, []byte("root:")) {
				t.Skip("root has a range on this machine")
			}
		}
		mustFail(t, apptainer(t, "exec", "--fakeroot", env.Busybox, "true"), "could not use fakeroot")
	})
	withSubIDFiles(t, nil, "root")
	t.Run("--fakeroot with root's range", func(t *testing.T) {
		r := apptainer(t, "exec", "--fakeroot", env.Busybox, "sh", "-c", "id -u; cat /proc/self/uid_map")
		mustSucceed(t, r, "exec --fakeroot as root")
		if got, want := fields(r.Stdout), fmt.Sprintf("0 0 0 1 1 %d %d", subUIDStart, subCount); got != want {
			t.Errorf("id and uid map %q, want %q", got, want)
		}
	})
}
