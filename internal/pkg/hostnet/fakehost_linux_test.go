package hostnet

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeHost is the throwaway host network of the root tests, after
// boot-feasibility Appendix C: lo up; ib0, a veth of MTU 2044 (this kernel
// has no dummy driver) whose peer "ibpeer" sits in a second throwaway
// namespace held by a sleep process; 10.201.0.2/24 on ib0; the rule
// "from 10.201.0.0/24 lookup 100" with a default route in table 100; an
// iptables rule when iptables exists; and a resolv.conf in a temp dir.
type fakeHost struct {
	// PeerPID holds the peer namespace open: /proc/PeerPID/ns/net.
	PeerPID    int
	ResolvConf string
	// HasIptables says whether the firewall rule could be added.
	HasIptables bool
}

const (
	fakeRulePref  = "1000"
	fakeFwRule    = "-p tcp --dport 9 -j DROP"
	resolvContent = "nameserver 10.200.0.1\n"
)

// newFakeHost builds the fake host in the test process's namespace (which
// TestMain made a throwaway one) and removes it again when the test ends,
// even when it fails.
func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	requireThrowawayNetns(t)
	h := &fakeHost{ResolvConf: filepath.Join(t.TempDir(), "resolv.conf")}
	if err := os.WriteFile(h.ResolvConf, []byte(resolvContent), 0o644); err != nil {
		t.Fatal(err)
	}

	sh(t, "ip link set lo up")
	h.PeerPID = startPeerNetns(t)
	sh(t, "ip link add ib0 type veth peer name ibpeer netns "+strconv.Itoa(h.PeerPID))
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "ib0").Run() })
	sh(t, "nsenter -t "+strconv.Itoa(h.PeerPID)+" -n ip link set ibpeer up")
	sh(t, "ip link set ib0 mtu 2044 up")
	sh(t, "ip addr add 10.201.0.2/24 dev ib0")
	sh(t, "ip rule add from 10.201.0.0/24 lookup 100 pref "+fakeRulePref)
	t.Cleanup(func() { _ = exec.Command("ip", "rule", "del", "pref", fakeRulePref).Run() })
	sh(t, "ip route add default via 10.201.0.1 dev ib0 table 100")
	t.Cleanup(func() { _ = exec.Command("ip", "route", "flush", "table", "100").Run() })
	if _, err := exec.LookPath("iptables"); err == nil {
		sh(t, "iptables -A INPUT "+fakeFwRule)
		t.Cleanup(func() { _ = exec.Command("sh", "-c", "iptables -D INPUT "+fakeFwRule).Run() })
		h.HasIptables = true
	}
	waitDAD(t, "ib0")
	return h
}

// startPeerNetns starts "unshare --net sleep" to hold the peer's namespace
// and returns its PID once the process is inside the new namespace. The
// process is killed when the test ends, and by the kernel if the test
// binary dies first.
func startPeerNetns(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "sleep", "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start the peer namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	own, err := os.Readlink(threadNetns)
	if err != nil {
		t.Fatal(err)
	}
	peerNs := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net"
	deadline := time.Now().Add(5 * time.Second)
	for {
		// unshare switches namespace before it execs sleep.
		if ns, err := os.Readlink(peerNs); err == nil && ns != own {
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the peer process never left the test's network namespace")
		}
		time.Sleep(10 * time.Millisecond) // poll interval: nothing reports another process's setns
	}
}

// waitDAD waits until the link has its IPv6 link-local address, no
// address is tentative any more and every address has the local route the
// kernel adds when its duplicate address detection completes: the baseline
// must not be taken while DAD still moves things (boot-feasibility pitfall
// P13). The kernel clears the tentative flag a moment before it adds that
// route, so the flags alone are not enough.
func waitDAD(t *testing.T, link string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if dadSettled(t, link) {
			return
		}
		if time.Now().After(deadline) {
			t.Log(sh(t, "ip -d addr"))
			t.Log(sh(t, "ip -6 route show table local"))
			t.Fatal("IPv6 duplicate address detection did not settle (tentative addresses, or addresses without their local route)")
		}
		time.Sleep(100 * time.Millisecond) // poll interval: no notification of DAD completion is subscribed to here
	}
}

func dadSettled(t *testing.T, link string) bool {
	t.Helper()
	l, err := netlink.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_LOCAL}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	hasLocalRoute := func(a netlink.Addr) bool {
		for _, r := range routes {
			if r.Type == unix.RTN_LOCAL && r.Dst != nil && r.Dst.IP.Equal(a.IP) {
				return true
			}
		}
		return false
	}
	linkLocal := false
	for _, a := range addrs {
		if a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_OPTIMISTIC) != 0 || !hasLocalRoute(a) {
			return false
		}
		if a.LinkIndex == l.Attrs().Index && a.IP.IsLinkLocalUnicast() {
			linkLocal = true
		}
	}
	return linkLocal
}

// sh runs a command line (split on blanks) and fails the test if it fails.
func sh(t *testing.T, cmdline string) string {
	t.Helper()
	f := strings.Fields(cmdline)
	out, err := exec.Command(f[0], f[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", cmdline, err, out)
	}
	return string(out)
}
