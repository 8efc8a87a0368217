//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cgroupDirs lists the cgroup directories near the top of every hierarchy,
// to prove that a booted instance leaves none behind.
func cgroupDirs(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if p == "/sys/fs/cgroup" {
				return err // nothing could be listed: not "no cgroups"
			}
			return nil // a cgroup removed while walking
		}
		if !d.IsDir() {
			return nil
		}
		if strings.Count(strings.TrimPrefix(p, "/sys/fs/cgroup"), "/") > 4 {
			return filepath.SkipDir
		}
		out[p] = true
		return nil
	})
	if err != nil {
		t.Fatalf("cannot list the cgroups: %v", err)
	}
	return out
}

func assertSameCgroups(t *testing.T, before map[string]bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		after := cgroupDirs(t)
		var extra []string
		for p := range after {
			if !before[p] {
				extra = append(extra, p)
			}
		}
		if len(extra) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("cgroup directories left behind: %v", extra)
			return
		}
		time.Sleep(pollInterval) // poll interval: a cgroup's removal has no event to wait on
	}
}

// pid1Exe is the executable of an instance's PID 1, seen from the host.
func pid1Exe(t *testing.T, pid int) string {
	t.Helper()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestBootLegacyBridge(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	cgBefore := cgroupDirs(t)
	const name = "bridge1"
	h.stopOnCleanup(t, name)
	r := h.apptainer(t, "instance", "start", "--boot", "--network-args", "portmap=8080:80/tcp",
		"--bind", env.Busybox+"/bin/busybox:/usr/local/bin/busybox", img, name)
	mustSucceed(t, r, "instance start --boot")
	if !strings.Contains(r.Stdout, name+": running") {
		t.Errorf("start did not report running:\n%s", r)
	}
	inst := getInstanceIn(t, h, name)
	if !strings.HasSuffix(pid1Exe(t, inst.Pid), "systemd") {
		t.Errorf("PID 1 is %s, want systemd", pid1Exe(t, inst.Pid))
	}
	ip := net.ParseIP(inst.IP)
	_, bridgeNet, _ := net.ParseCIDR("10.22.0.0/16")
	if ip == nil || !bridgeNet.Contains(ip) {
		t.Fatalf("instance IP %q not in 10.22.0.0/16", inst.IP)
	}
	table := h.apptainer(t, "instance", "list")
	if !strings.Contains(table.Stdout, inst.IP) {
		t.Errorf("instance list lacks the IP:\n%s", table.Stdout)
	}
	if readNS(t, h.NetNS) == readNS(t, fmt.Sprintf("/proc/%d/ns/net", inst.Pid)) {
		t.Error("--boot shares the host's network namespace")
	}
	virt := h.apptainer(t, "exec", "instance://"+name, "systemd-detect-virt")
	if strings.TrimSpace(virt.Stdout) == "none" || virt.Stdout == "" {
		t.Errorf("systemd-detect-virt: %s", virt)
	}
	addr := h.apptainer(t, "exec", "instance://"+name, "ip", "-4", "-o", "addr", "show", "eth0")
	if !strings.Contains(addr.Stdout, inst.IP+"/16") {
		t.Errorf("eth0 inside: %s", addr)
	}
	// The host reaches a port inside through portmap.
	mustSucceed(t, h.apptainer(t, "exec", "instance://"+name, "/usr/local/bin/busybox", "httpd", "-p", "80", "-h", "/etc"), "httpd in the instance")
	waitFor(t, 30*time.Second, "portmap 8080 -> 80 to answer with the instance's /etc/hostname "+name, func() (bool, string) {
		got := strings.TrimSpace(h.mustRunOK(t, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/hostname"))
		return got == name, fmt.Sprintf("answer %q", got)
	})
	// The positive control of the veth checks of the hostnet tests.
	if v := vethLinks(h.output(t, "ip", "-o", "link")); len(v) != 1 {
		t.Errorf("veth links on the host side: %v, want one", v)
	}

	start := time.Now()
	mustSucceed(t, h.apptainer(t, "instance", "stop", name), "instance stop")
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("clean stop took %s", d)
	}
	out, err := os.ReadFile(inst.LogOutPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "Exiting container") && !strings.Contains(string(out), "Halting system") {
		t.Errorf("console log shows no halt:\n%s", tail(string(out), 10))
	}
	errLog, err := os.ReadFile(inst.LogErrPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(errLog), "init halted cleanly") {
		t.Errorf("monitor did not report a clean halt:\n%s", errLog)
	}
	if links := h.output(t, "ip", "-o", "link"); len(vethLinks(links)) > 0 {
		t.Errorf("veth left after stop:\n%s", links)
	}
	if nat := h.mustRun(t, "iptables-save", "-t", "nat"); strings.Contains(nat, inst.IP) {
		t.Errorf("iptables rules for %s left:\n%s", inst.IP, nat)
	}
	if _, err := os.Stat(filepath.Join("/var/lib/cni/networks/bridge", inst.IP)); !os.IsNotExist(err) {
		t.Errorf("IPAM lease of %s left: %v", inst.IP, err)
	}
	assertSameCgroups(t, cgBefore)
}

func TestBootNetworkNoneAndNetnsPath(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	h.stopOnCleanup(t, "none1")
	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--network", "none", img, "none1"), "start --network none")
	links := h.apptainer(t, "exec", "instance://none1", "ip", "-o", "link")
	if n := len(strings.Split(strings.TrimSpace(links.Stdout), "\n")); n != 1 || !strings.Contains(links.Stdout, "lo:") {
		t.Errorf("--network none: links inside:\n%s", links.Stdout)
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", "none1"), "stop")

	// --netns-path joins the given namespace.
	nsPath := netnsHolder(t)
	h.stopOnCleanup(t, "path1")
	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--netns-path", nsPath, img, "path1"), "start --netns-path")
	inst := getInstanceIn(t, h, "path1")
	want := readNS(t, nsPath)
	got := readNS(t, fmt.Sprintf("/proc/%d/ns/net", inst.Pid))
	if got != want || inst.IP != "" {
		t.Errorf("--netns-path: instance netns %s (ip %q), want %s", got, inst.IP, want)
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", "path1"), "stop")
}

func TestBootRefusalsLeaveNothing(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	cgBefore := cgroupDirs(t)
	linksBefore := linkNames(h.output(t, "ip", "-o", "link"))
	regular := filepath.Join(t.TempDir(), "not-a-netns")
	if err := os.WriteFile(regular, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(env.ConfDir, "network", "90_broken.conflist")
	if err := os.WriteFile(broken, []byte(`{"cniVersion":"1.0.0","name":"broken","plugins":[{"type":"bridge","bridge":"sbr9","ipam":{"type":"host-local","ranges":[[{"subnet":"10.99.0.0/16"}]]}},{"type":"no-such-plugin"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(broken) })
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad netns path", []string{"--netns-path", filepath.Join(t.TempDir(), "missing")}, "while checking netns path"},
		{"regular file as netns", []string{"--netns-path", regular}, "not a network namespace"},
		{"directory as netns", []string{"--netns-path", t.TempDir()}, "not a network namespace"},
		{"unknown network", []string{"--network", "nosuchnet"}, "nosuchnet"},
		{"failing CNI plugin", []string{"--network", "broken"}, "no-such-plugin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.apptainer(t, append(append([]string{"instance", "start", "--boot"}, tt.args...), img, "refused1")...)
			mustFail(t, r, tt.want)
			if monitorRunning("refused1") {
				t.Error("a monitor is left")
			}
			if _, err := os.Stat(instanceFile("refused1")); !os.IsNotExist(err) {
				t.Errorf("instance file left: %v", err)
			}
			if got := h.output(t, "ip", "-o", "link"); len(vethLinks(got)) > 0 {
				t.Errorf("veth left:\n%s", got)
			}
			if nat := h.mustRun(t, "iptables-save", "-t", "nat"); strings.Contains(nat, "10.99.") {
				t.Errorf("nat rules left:\n%s", nat)
			}
		})
	}
	// A non-root user gets upstream's message.
	r := apptainerCmd(t, nil, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", env.Bin, "instance", "start", "--boot", img, "user1")
	mustFail(t, r, "Could not configure --boot: --boot requires root privileges")
	assertSameCgroups(t, cgBefore)
	// The failing network's bridge is the one link CNI may leave: the
	// bridge plugin made it before the next plugin failed, and keeps
	// bridges by design.
	var added []string
	for _, l := range subtract(linkNames(h.output(t, "ip", "-o", "link")), linksBefore) {
		if strings.Fields(l)[1] != "sbr9" {
			added = append(added, l)
		}
	}
	if len(added) > 0 {
		t.Errorf("the refused starts left links: %v", added)
	}
}

func TestBootStopForce(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	h.stopOnCleanup(t, "force1")
	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--network", "none", img, "force1"), "start")
	inst := getInstanceIn(t, h, "force1")
	mustSucceed(t, h.apptainer(t, "instance", "stop", "-F", "force1"), "stop -F")
	errLog, err := os.ReadFile(inst.LogErrPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(errLog), "init was killed by SIGKILL") {
		t.Errorf("-F did not kill init with SIGKILL:\n%s", errLog)
	}
}

// getInstanceIn reads an instance's list entry through the fake host.
func getInstanceIn(t *testing.T, h *fakeHost, name string) listEntry {
	t.Helper()
	return getInstance(t, name)
}

// mustRunOK runs a command in the fake host and returns its output, empty
// on failure.
func (h *fakeHost) mustRunOK(t *testing.T, args ...string) string {
	a := h.nsenterArgs(args...)
	out, err := exec.Command(a[0], a[1:]...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
