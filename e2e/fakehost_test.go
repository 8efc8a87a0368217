//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var imageOnce struct {
	sync.Once
	path string
	err  error
}

// bootImage returns the Debian bookworm systemd rootfs, built once by
// scripts/e2e-image.sh and cached outside the repository.
func bootImage(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		for _, key := range []string{"APPTAINER_E2E_IMAGE", "APPTAINER_E2E_ROOTFS"} {
			if p := os.Getenv(key); p != "" {
				imageOnce.path = p
				return
			}
		}
		script, _ := filepath.Abs("../scripts/e2e-image.sh")
		out, err := exec.Command(script).Output()
		if err != nil {
			imageOnce.err = fmt.Errorf("%s: %w", script, err)
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		imageOnce.path = lines[len(lines)-1]
	})
	if imageOnce.err != nil {
		t.Fatalf("cannot get the boot image: %v", imageOnce.err)
	}
	return imageOnce.path
}

// fakeHost is a throwaway network and mount namespace that plays the host
// for one test: a sleeping process holds it, and apptainer runs inside it
// through nsenter. It has a fake InfiniBand link ib0 (a veth of MTU 2044
// whose peer sits in a second namespace), an address and a policy-routing
// rule with its own table, a firewall rule and its own resolv.conf.
type fakeHost struct {
	pid, peerPid int
	NetNS        string
	ResolvConf   string
}

func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	holder := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "sleep", "infinity")
	peer := exec.Command("unshare", "--net", "sleep", "infinity")
	for _, c := range []*exec.Cmd{holder, peer} {
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmd := c
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	h := &fakeHost{pid: holder.Process.Pid, peerPid: peer.Process.Pid}
	h.NetNS = fmt.Sprintf("/proc/%d/ns/net", h.pid)
	// unshare needs a moment to enter its namespaces before exec'ing sleep.
	waitNS(t, h.pid)
	waitNS(t, h.peerPid)
	h.ResolvConf = filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(h.ResolvConf, []byte("nameserver 10.200.0.53\nsearch fake.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	peerNS := strconv.Itoa(h.peerPid)
	steps := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "ib0", "type", "veth", "peer", "name", "ibpeer", "netns", peerNS},
		{"ip", "link", "set", "ib0", "mtu", "2044", "up"},
		{"ip", "addr", "add", "10.201.0.2/24", "dev", "ib0"},
		{"ip", "rule", "add", "from", "10.201.0.0/24", "lookup", "100", "pref", "1000"},
		{"ip", "route", "add", "10.201.5.0/24", "via", "10.201.0.1", "dev", "ib0", "table", "100"},
		{"iptables", "-A", "INPUT", "-p", "tcp", "--dport", "4242", "-j", "DROP"},
		{"mount", "--bind", h.ResolvConf, "/etc/resolv.conf"},
	}
	for _, s := range steps {
		h.mustRun(t, s...)
	}
	if out, err := exec.Command("nsenter", "--net=/proc/"+peerNS+"/ns/net", "ip", "link", "set", "ibpeer", "up").CombinedOutput(); err != nil {
		t.Fatalf("peer up: %v %s", err, out)
	}
	// IPv6 duplicate address detection must settle before any baseline.
	time.Sleep(2500 * time.Millisecond)
	return h
}

func waitNS(t *testing.T, pid int) {
	t.Helper()
	self, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; i < 200; i++ {
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && ns != self {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d did not enter its namespace", pid)
}

// nsenterArgs prefixes a command so it runs in the fake host.
func (h *fakeHost) nsenterArgs(args ...string) []string {
	return append([]string{"nsenter", "-t", strconv.Itoa(h.pid), "--net", "--mount", "--"}, args...)
}

func (h *fakeHost) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	a := h.nsenterArgs(args...)
	out, err := exec.Command(a[0], a[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("in fake host: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// apptainer runs the binary under test inside the fake host.
func (h *fakeHost) apptainer(t *testing.T, args ...string) result {
	t.Helper()
	a := h.nsenterArgs(append([]string{env.Bin}, args...)...)
	return apptainerCmd(t, nil, a[0], a[1:]...)
}

// stopOnCleanup stops an instance of this fake host when the test ends.
func (h *fakeHost) stopOnCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		h.apptainer(t, "instance", "stop", "-t", "20", name)
		waitGone(name, 30*time.Second)
	})
}
