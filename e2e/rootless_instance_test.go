//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRootlessInstances: an ordinary user starts, lists, joins and stops
// instances of a sandbox and of a SIF; the monitor and the container are
// the user's processes, the instance's files are in the user's home, and
// nothing is left after the stop.
func TestRootlessInstances(t *testing.T) {
	rootlessSetup(t)
	u := newTestUser(t)
	dir := readableDir(t)
	sif := userBusyboxSIF(t, dir)
	usableFuse(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(u.home, ".apptainer", "instances")
	before := mountinfo(t)
	for _, tc := range []struct {
		kind, img string
	}{{"sandbox", env.Busybox}, {"SIF", sif}} {
		t.Run(tc.kind, func(t *testing.T) {
			name := "web" + strings.ToLower(tc.kind)
			r := u.run(t, "instance", "start", tc.img, name)
			mustSucceed(t, r, "instance start as the user")
			t.Cleanup(func() { u.run(t, "instance", "stop", "-F", name) })
			file := filepath.Join(store, "app", host, u.name, name, name+".json")
			var f struct {
				Pid, PPid int
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("no instance file in the user's home: %v", err)
			}
			if err := json.Unmarshal(b, &f); err != nil || f.Pid <= 0 || f.PPid <= 0 {
				t.Fatalf("instance file %s: %v\n%s", file, err, b)
			}
			for what, pid := range map[string]int{"monitor": f.PPid, "PID 1": f.Pid} {
				st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
				if err != nil {
					t.Fatalf("the instance's %s (PID %d) is not running: %v", what, pid, err)
				}
				if ids := strings.Fields(statusText(string(st), "Uid")); len(ids) < 4 || ids[0] != strconv.Itoa(u.uid) || ids[3] != strconv.Itoa(u.uid) {
					t.Errorf("the %s runs as uids %v, want the user's %d", what, ids, u.uid)
				}
				if capEff := statusText(string(st), "CapEff"); strings.Trim(capEff, "0") != "" && what == "monitor" {
					t.Errorf("the monitor holds capabilities %s on the host", capEff)
				}
			}
			var list struct {
				Instances []struct {
					Instance string `json:"instance"`
					Pid      int    `json:"pid"`
					Img      string `json:"img"`
				} `json:"instances"`
			}
			r = u.run(t, "instance", "list", "--json")
			mustSucceed(t, r, "instance list --json as the user")
			if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || len(list.Instances) != 1 || list.Instances[0].Instance != name || list.Instances[0].Pid != f.Pid {
				t.Errorf("instance list --json = %s (%v), want %s with PID %d", r.Stdout, err, name, f.Pid)
			}
			r = apptainer(t, "instance", "list", "-u", u.name)
			mustSucceed(t, r, "root's instance list -u USER")
			if !strings.Contains(r.Stdout, name) {
				t.Errorf("root's instance list -u %s does not show %s:\n%s", u.name, name, r.Stdout)
			}
			r = u.run(t, "exec", "instance://"+name, "sh", "-c", "echo $(id -u) $$")
			mustSucceed(t, r, "exec instance://")
			if got, want := strings.Fields(r.Stdout), []string{strconv.Itoa(u.uid)}; len(got) != 2 || got[0] != want[0] || got[1] == "1" {
				t.Errorf("exec instance:// printed %q, want the user's uid %d and a PID other than 1", r.Stdout, u.uid)
			}
			r = u.run(t, "instance", "stop", name)
			mustSucceed(t, r, "instance stop as the user")
			waitFor(t, 30*time.Second, "the instance's processes to end", func() (bool, string) {
				procs := processesOf(u.uid)
				return len(procs) == 0, strings.Join(procs, "\n")
			})
			for _, p := range []string{filepath.Dir(file), filepath.Join(store, "run", host, name)} {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Errorf("%s is left after the stop (%v)", p, err)
				}
			}
			r = u.run(t, "instance", "list", "--json")
			mustSucceed(t, r, "instance list after the stop")
			if strings.Contains(r.Stdout, name) {
				t.Errorf("the stopped instance is still listed:\n%s", r.Stdout)
			}
		})
	}
	t.Run("--fakeroot instance", func(t *testing.T) {
		r := u.run(t, "instance", "start", "--fakeroot", env.Busybox, "fr")
		mustSucceed(t, r, "instance start --fakeroot as the user")
		t.Cleanup(func() { u.run(t, "instance", "stop", "-F", "fr") })
		r = u.run(t, "exec", "instance://fr", "id", "-u")
		mustSucceed(t, r, "exec instance://fr")
		if strings.TrimSpace(r.Stdout) != "0" {
			t.Errorf("id -u in a --fakeroot instance = %q, want 0", r.Stdout)
		}
		mustSucceed(t, u.run(t, "instance", "stop", "fr"), "stop the --fakeroot instance")
		waitFor(t, 30*time.Second, "the instance's processes to end", func() (bool, string) {
			procs := processesOf(u.uid)
			return len(procs) == 0, strings.Join(procs, "\n")
		})
	})
	if after := mountinfo(t); after != before {
		t.Errorf("the host's mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestRootlessInstanceStopByRoot: root stops a user's instance with -u by
// acting as the user; other commands that would act on the user's files
// as root say why they do not.
func TestRootlessInstanceStopByRoot(t *testing.T) {
	rootlessSetup(t)
	u := newTestUser(t)
	r := u.run(t, "instance", "start", env.Busybox, "bystop")
	mustSucceed(t, r, "instance start as the user")
	t.Cleanup(func() { u.run(t, "instance", "stop", "-F", "bystop") })
	r = apptainer(t, "instance", "stats", "-u", u.name, "bystop")
	mustFail(t, r, "user "+u.name+" started it without root, and root acts on it only as that user")
	r = apptainer(t, "instance", "stop", "-u", u.name, "bystop")
	mustSucceed(t, r, "root's instance stop -u USER of the user's instance")
	waitFor(t, 30*time.Second, "the instance's processes to end", func() (bool, string) {
		procs := processesOf(u.uid)
		return len(procs) == 0, strings.Join(procs, "\n")
	})
	r = u.run(t, "instance", "list", "--json")
	mustSucceed(t, r, "instance list after root's stop")
	if strings.Contains(r.Stdout, "bystop") {
		t.Errorf("the instance root stopped is still listed:\n%s", r.Stdout)
	}
}
