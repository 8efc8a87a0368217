//go:build e2e

package e2e

// Issue 15, finding 1: root never acts on what a user wrote in an instance
// file. An unprivileged user forges instance files in the two places root
// reads them from: the user's own store (root's `instance list -u`,
// `instance stop -u`) and root's store when root runs with the user's HOME
// (sudo -E). Each forged value was acted on as root before: a CNI plugin
// directory executed, a runtime directory removed, a cgroup.kill link
// written through, a PID signalled, a process joined, a log link appended
// to.

import (
	"encoding/base64"
	"encoding/json"
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

// hostileUID is the unprivileged user of these tests; it exists only in
// the test's mount namespace (see hostileUser).
const (
	hostileUID  = 64123
	hostileName = "e2ehostile"
)

// hostileUser adds an unprivileged user with a home of its own to
// /etc/passwd and /etc/group, by bind mounts visible only in the e2e
// mount namespace, and returns the home.
func hostileUser(t *testing.T) string {
	t.Helper()
	home := filepath.Join(env.Top, fmt.Sprintf("hostile-%d", time.Now().UnixNano()))
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(home) })
	if err := os.Chown(home, hostileUID, hostileUID); err != nil {
		t.Fatal(err)
	}
	for file, line := range map[string]string{
		"/etc/passwd": fmt.Sprintf("%s:x:%d:%d::%s:/bin/sh\n", hostileName, hostileUID, hostileUID, home),
		"/etc/group":  fmt.Sprintf("%s:x:%d:\n", hostileName, hostileUID),
	} {
		orig, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		copyPath := filepath.Join(t.TempDir(), filepath.Base(file))
		if err := os.WriteFile(copyPath, append(orig, line...), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount(copyPath, file, "", syscall.MS_BIND, ""); err != nil {
			t.Fatalf("bind mount over %s: %v", file, err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(file, syscall.MNT_DETACH) })
	}
	return home
}

// asHostile runs a shell command as the hostile user.
func asHostile(t *testing.T, script string) {
	t.Helper()
	asHostileIn(t, "", script)
}

// asHostileIn is asHostile with stdin.
func asHostileIn(t *testing.T, stdin, script string) {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(hostileUID), "--regid="+strconv.Itoa(hostileUID), "--clear-groups", "sh", "-c", script)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as the hostile user: %s: %v\n%s", script, err, out)
	}
}

// forgeInstance writes, as the hostile user, an instance file for name in
// the store of storeUser below configDir.
func forgeInstance(t *testing.T, configDir, storeUser, name string, fields map[string]any) {
	t.Helper()
	fields["name"] = name
	fields["user"] = storeUser
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(configDir, "instances", "app", "e2e-host", storeUser, name)
	asHostileIn(t, string(b), fmt.Sprintf("mkdir -p %q && cat > %q", dir, filepath.Join(dir, name+".json")))
}

// evilNetwork prepares, as the hostile user, a CNI configuration whose
// only plugin records who ran it in marker, a runtime directory that
// tells ghost cleanup a CNI ADD was under way, and the engine
// configuration that points at both. It returns the configuration (as
// stored in an instance file) and the runtime directory.
func evilNetwork(t *testing.T, home, marker string) ([]byte, string) {
	t.Helper()
	bin, conf, run := filepath.Join(home, "cni-bin"), filepath.Join(home, "cni-conf"), filepath.Join(home, "fakerun")
	asHostile(t, fmt.Sprintf(`mkdir -p %[1]q %[2]q %[3]q &&
printf '#!/bin/sh\nid -u > %[4]s\necho "{}"\n' > %[1]q/evil && chmod 755 %[1]q/evil &&
echo '{"cniVersion":"1.0.0","name":"evil","plugins":[{"type":"evil"}]}' > %[2]q/evil.conflist &&
echo '{"containerID":"forged","netns":"/proc/self/ns/net"}' > %[3]q/cni-pending.json`, bin, conf, run, marker))
	cfg, err := json.Marshal(map[string]any{
		"spec":    map[string]any{"process": map[string]any{"cwd": "/", "env": []string{}, "args": []string{"/bin/true"}}},
		"network": map[string]any{"networks": []string{"evil"}, "confDir": conf, "pluginDirs": []string{bin}, "cacheDir": filepath.Join(home, "cni-cache")},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Positive control: the plugin is runnable and leaves the marker; that
	// no marker is left below means nobody ran it.
	ctl := exec.Command(filepath.Join(bin, "evil"))
	ctl.Env = []string{"CNI_COMMAND=DEL"}
	if out, err := ctl.CombinedOutput(); err != nil {
		t.Fatalf("positive control: the forged plugin does not run: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("positive control: the forged plugin left no marker: %v", err)
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	return cfg, run
}

// rootVictim makes a root-only directory holding a file, which a forged
// runtime directory or cgroup path will name.
func rootVictim(t *testing.T) (dir, file string) {
	t.Helper()
	dir = filepath.Join(env.Top, fmt.Sprintf("victim-%d", time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	file = filepath.Join(dir, "precious")
	if err := os.WriteFile(file, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

func assertPrecious(t *testing.T, file string) {
	t.Helper()
	if b, err := os.ReadFile(file); err != nil || string(b) != "precious\n" {
		t.Errorf("root's file %s was changed or removed: %q, %v", file, b, err)
	}
}

// deadPid is the PID of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestAttackForgedGhosts: files of dead instances forged by the user, in
// the user's store (root lists it with -u) and in root's store below the
// user's home (root with the user's HOME). Root's listing removes them as
// ghosts; it must run none of their CNI plugins, remove none of their
// runtime directories and write through none of their cgroup paths.
func TestAttackForgedGhosts(t *testing.T) {
	home := hostileUser(t)
	for _, c := range []struct {
		name      string
		storeUser string
		list      []string
		extraEnv  []string
	}{
		{"list -u", hostileName, []string{"instance", "list", "-u", hostileName}, nil},
		{"root with the user's HOME", "root", []string{"instance", "list"}, []string{"HOME=" + home}},
	} {
		t.Run(c.name, func(t *testing.T) {
			marker := filepath.Join(env.Top, fmt.Sprintf("cni-ran-%d", time.Now().UnixNano()))
			t.Cleanup(func() { _ = os.Remove(marker) })
			cfg, fakeRun := evilNetwork(t, home, marker)
			victimDir, victimFile := rootVictim(t)
			cgDir := filepath.Join(home, "cg")
			asHostile(t, fmt.Sprintf("mkdir -p %q && ln -sf %q %q", cgDir, victimFile, filepath.Join(cgDir, "cgroup.kill")))
			configDir := filepath.Join(home, ".apptainer")
			forgeInstance(t, configDir, c.storeUser, "ghostcni", map[string]any{
				"pid": 0, "ppid": deadPid(t), "config": base64.StdEncoding.EncodeToString(cfg),
				"runDir": "/run/apptainer/../.." + fakeRun,
			})
			forgeInstance(t, configDir, c.storeUser, "ghostdir", map[string]any{
				"pid": 0, "ppid": deadPid(t), "runDir": "/run/apptainer/../.." + victimDir,
				"cgroupPaths": []string{"/sys/fs/cgroup/../.." + cgDir},
			})
			r := apptainerEnv(t, c.extraEnv, c.list...)
			mustSucceed(t, r, "the listing")
			// The listing did take both for ghosts: their files are gone.
			for _, name := range []string{"ghostcni", "ghostdir"} {
				f := filepath.Join(configDir, "instances", "app", "e2e-host", c.storeUser, name, name+".json")
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("the listing did not remove the ghost's file %s (%v): the attack was not exercised", f, err)
				}
			}
			if b, err := os.ReadFile(marker); err == nil {
				t.Errorf("root ran the user's CNI plugin (it recorded uid %s)", strings.TrimSpace(string(b)))
			}
			assertPrecious(t, victimFile)
		})
	}
}

// fakeMonitor starts, as the hostile user, a process whose command line is
// a monitor's, so that a forged file naming it looks alive.
func fakeMonitor(t *testing.T, user, name string) int {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(hostileUID), "--regid="+strconv.Itoa(hostileUID), "--clear-groups",
		"bash", "-c", fmt.Sprintf(`exec -a "Apptainer instance: %s [%s]" sleep 600`, user, name))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 10*time.Second, "the fake monitor's command line", func() (bool, string) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
		return strings.HasPrefix(string(b), "Apptainer instance"), string(b)
	})
	return cmd.Process.Pid
}

// rootProcess starts a root process that the forged files will name.
func rootProcess(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// TestAttackForgedLiveInstance: a forged file of a live-looking instance
// (its monitor PID is the user's own process named like a monitor) whose
// PID 1 is a root process. Root's stop must not signal that process, and
// root's exec instance:// must not join it; both must say why.
func TestAttackForgedLiveInstance(t *testing.T) {
	home := hostileUser(t)
	configDir := filepath.Join(home, ".apptainer")
	userEnv := []string{"HOME=" + home}
	marker := filepath.Join(env.Top, fmt.Sprintf("joined-%d", time.Now().UnixNano()))
	t.Cleanup(func() { _ = os.Remove(marker) })
	cfg, err := json.Marshal(map[string]any{
		"spec": map[string]any{"process": map[string]any{"cwd": "/", "env": []string{"PATH=/usr/bin:/bin"}, "args": []string{"/bin/true"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, storeUser string
		stop            []string
		extraEnv        []string
	}{
		{"stop -u", hostileName, []string{"instance", "stop", "-u", hostileName, "forged"}, nil},
		{"root with the user's HOME", "root", []string{"instance", "stop", "forged"}, userEnv},
	} {
		t.Run(c.name, func(t *testing.T) {
			victim := rootProcess(t)
			forgeInstance(t, configDir, c.storeUser, "forged", map[string]any{
				"pid": victim.Process.Pid, "ppid": fakeMonitor(t, c.storeUser, "forged"), "state": "running",
				"config": base64.StdEncoding.EncodeToString(cfg), "image": "/forged",
			})
			// The CLI takes the forged instance for a live one.
			listArgs := []string{"instance", "list", "--json"}
			if c.storeUser != "root" {
				listArgs = []string{"instance", "list", "--json", "-u", hostileName}
			}
			if r := apptainerEnv(t, c.extraEnv, listArgs...); r.Code != 0 || !strings.Contains(r.Stdout, `"forged"`) {
				t.Fatalf("the forged instance is not listed, so the attack was not exercised:\n%s", r)
			}
			mustFail(t, apptainerEnv(t, c.extraEnv, append(c.stop[:len(c.stop):len(c.stop)], "-t", "2")...), "refusing to act on an instance file")
			if !processAlive(victim.Process.Pid) {
				t.Errorf("root's stop killed root's process %d, which the forged file named", victim.Process.Pid)
			}
			if c.storeUser == "root" {
				r := apptainerEnv(t, c.extraEnv, "exec", "instance://forged", "touch", marker)
				if r.Code == 0 || !strings.Contains(r.Stderr, "refusing to act on an instance file") {
					t.Errorf("exec instance:// of the forged instance was not refused:\n%s", r)
				}
				if _, err := os.Stat(marker); err == nil {
					t.Errorf("root ran a command in the namespaces of the process the forged file named")
				}
			}
		})
	}
}

// TestAttackLogLinks: the logs of root's instances are created in the
// store's log directory, which with the user's HOME is the user's. A
// symbolic link, or a hard link, planted under a log's name must not make
// root append what the instance prints to another file.
func TestAttackLogLinks(t *testing.T) {
	home := hostileUser(t)
	_, victimFile := rootVictim(t)
	logDir := filepath.Join(home, ".apptainer", "instances", "logs", "e2e-host", "root")
	asHostile(t, fmt.Sprintf("mkdir -p %q && ln -s %q %q", logDir, victimFile, filepath.Join(logDir, "loglink.out")))
	// Positive control: the link leads to root's file.
	if b, err := os.ReadFile(filepath.Join(logDir, "loglink.out")); err != nil || string(b) != "precious\n" {
		t.Fatalf("positive control: the planted link does not lead to the victim: %q %v", b, err)
	}
	t.Cleanup(func() { apptainerEnv(t, []string{"HOME=" + home}, "instance", "stop", "loglink") })
	r := apptainerEnv(t, []string{"HOME=" + home}, "instance", "start", env.Busybox, "loglink")
	mustFail(t, r, "failed to open log file")
	assertPrecious(t, victimFile)
	if monitorRunning("loglink") {
		t.Errorf("a monitor of loglink runs although its start failed")
	}
}
