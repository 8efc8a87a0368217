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

// cachedImage is one of scripts/e2e-image.sh's images, found once.
type cachedImage struct {
	sync.Once
	path string
	err  error
}

var images = map[string]*cachedImage{"systemd": {}, "sysvinit": {}}

// imageEnv names the variables that may give each recipe's image.
var imageEnv = map[string][]string{
	"systemd":  {"APPTAINER_E2E_IMAGE", "APPTAINER_E2E_ROOTFS"},
	"sysvinit": {"APPTAINER_E2E_SYSVINIT_ROOTFS"},
}

// recipeImage returns the Debian bookworm rootfs of recipe ("systemd" or
// "sysvinit"), built once by scripts/e2e-image.sh and cached outside the
// repository.
func recipeImage(t *testing.T, recipe string) string {
	t.Helper()
	img := images[recipe]
	img.Do(func() {
		for _, key := range imageEnv[recipe] {
			if p := os.Getenv(key); p != "" {
				img.path = p
				return
			}
		}
		script, _ := filepath.Abs("../scripts/e2e-image.sh")
		out, err := exec.Command(script, "--recipe", recipe).Output()
		if err != nil {
			img.err = fmt.Errorf("%s --recipe %s: %w", script, recipe, err)
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		img.path = lines[len(lines)-1]
	})
	if img.err != nil {
		t.Fatalf("cannot get the %s image: %v", recipe, img.err)
	}
	return img.path
}

// bootImage returns the Debian bookworm systemd rootfs.
func bootImage(t *testing.T) string { return recipeImage(t, "systemd") }

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
	// ib0's IPv6 link-local address must be through duplicate address
	// detection before any baseline: its routes appear when it is.
	waitNoTentative(t, h, "ib0 came up")
	return h
}

// waitNoTentative waits until IPv6 duplicate address detection is over in
// the fake host h (the namespace every baseline of a test records): no
// address is tentative, and every link that is up with a carrier has its
// link-local address (the kernel adds it when it sees the carrier, which
// may come a moment after `ip link set up` returns). A link's routes to
// its own addresses appear only when their DAD is done, so a baseline
// taken earlier would report them as a change made by the instance.
// after says what made the addresses, for the failure message.
func waitNoTentative(t *testing.T, h *fakeHost, after string) {
	t.Helper()
	waitFor(t, 30*time.Second, "IPv6 duplicate address detection to finish in the fake host after "+after, func() (bool, string) {
		tentative := strings.TrimSpace(h.output(t, "ip", "-6", "-o", "addr", "show", "tentative"))
		if tentative != "" {
			return false, "tentative addresses:\n" + tentative
		}
		addrs := h.output(t, "ip", "-6", "-o", "addr", "show", "scope", "link")
		hasLL := map[string]bool{}
		for _, l := range lines(addrs) { // "2: ib0    inet6 fe80::.../64 scope link ..."
			if f := strings.Fields(l); len(f) > 3 && f[2] == "inet6" && strings.HasPrefix(f[3], "fe80:") {
				hasLL[f[1]] = true
			}
		}
		for _, l := range lines(h.output(t, "ip", "-o", "link", "show", "up")) {
			f := strings.Fields(l) // "2: ib0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> ..."
			if len(f) < 3 || strings.Contains(f[2], "LOOPBACK") || !strings.Contains(f[2], "LOWER_UP") {
				continue
			}
			if name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@"); !hasLL[name] {
				return false, "link " + name + " is up with a carrier and has no link-local address yet:\n" + addrs
			}
		}
		return true, ""
	})
}

func waitNS(t *testing.T, pid int) {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("process %d to enter a network namespace of its own", pid), func() (bool, string) {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			return false, err.Error()
		}
		return ns != self, "still in " + ns
	})
}

// netnsHolder starts a process in a new, empty network namespace, kept
// until the test ends, and returns the namespace's path (for --netns-path).
func netnsHolder(t *testing.T) string {
	t.Helper()
	holder := exec.Command("unshare", "--net", "sleep", "infinity")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	waitNS(t, holder.Process.Pid)
	return fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
}

// nsenterArgs prefixes a command so it runs in the fake host.
func (h *fakeHost) nsenterArgs(args ...string) []string {
	return append([]string{"nsenter", "-t", strconv.Itoa(h.pid), "--net", "--mount", "--"}, args...)
}

// output runs a command in the fake host and returns its standard
// output; a failure fails the test with what the command printed on
// stderr.
func (h *fakeHost) output(t *testing.T, args ...string) string {
	t.Helper()
	a := h.nsenterArgs(args...)
	out, err := exec.Command(a[0], a[1:]...).Output()
	if err != nil {
		t.Fatalf("in fake host: %s: %v\n%s", strings.Join(args, " "), err, stderrOf(err))
	}
	return string(out)
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

// stopOnCleanup stops an instance of this fake host when the test ends
// (see stopOnCleanup in harness_test.go).
func (h *fakeHost) stopOnCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		r := h.apptainer(t, "instance", "stop", "-t", "20", name)
		if !waitGone(name, 30*time.Second) {
			t.Errorf("cleanup: the monitor of %s still runs 30 s after instance stop:\n%s", name, r)
		}
	})
}
