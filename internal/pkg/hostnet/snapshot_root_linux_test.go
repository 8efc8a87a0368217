package hostnet

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// take snapshots the test process's (throwaway) namespace.
func take(t *testing.T, h *fakeHost, filter func(uint64) bool) *Snapshot {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s, err := Take(SnapshotOptions{ResolvConf: h.ResolvConf, ListenerFilter: filter})
	if err != nil {
		t.Fatalf("Take() error: %v", err)
	}
	return s
}

// Two snapshots of an idle host taken seconds apart must compare equal:
// this is what shows that nothing recorded moves by itself (the sysctl
// exclusions, the DAD and lifetime flags, the netfilter counters).
func TestSnapshotStable(t *testing.T) {
	h := newFakeHost(t)
	first := take(t, h, nil)
	// Not a wait for a condition: the idle time under test, long enough
	// for counters, address lifetimes and timers to move if they are
	// recorded.
	time.Sleep(3 * time.Second)
	second := take(t, h, nil)
	if d := Compare(first, second); !d.Empty() {
		t.Errorf("an idle host changed between two snapshots:\n%s", d)
	}

	// And the snapshot did see the fake host.
	ib0 := slices.IndexFunc(first.Links, func(l Link) bool { return l.Name == "ib0" })
	if ib0 < 0 || first.Links[ib0].MTU != 2044 || !first.Links[ib0].AdminUp || first.Links[ib0].OperState != "up" {
		t.Errorf("ib0 missing or wrong in %+v", first.Links)
	}
	if !slices.ContainsFunc(first.Addresses, func(a Address) bool { return a.Link == "ib0" && a.CIDR == "10.201.0.2/24" }) {
		t.Errorf("10.201.0.2/24 on ib0 missing from %+v", first.Addresses)
	}
	if !slices.ContainsFunc(first.Addresses, func(a Address) bool { return a.Link == "ib0" && strings.HasPrefix(a.CIDR, "fe80:") }) {
		t.Errorf("ib0's link-local address missing from %+v", first.Addresses)
	}
	if !slices.ContainsFunc(first.Routes, func(r Route) bool {
		return r.Table == "100" && r.Dst == "default" && r.Gateway == "10.201.0.1" && r.Dev == "ib0"
	}) {
		t.Errorf("default route of table 100 missing from %+v", first.Routes)
	}
	if !slices.ContainsFunc(first.Rules, func(r Rule) bool {
		return r.Priority == 1000 && r.From == "10.201.0.0/24" && r.Action == "lookup 100"
	}) {
		t.Errorf("rule 1000 missing from %+v", first.Rules)
	}
	if v := first.Sysctls["net.ipv4.conf.ib0.rp_filter"]; v == "" || len(first.Sysctls) < 100 {
		t.Errorf("sysctls look incomplete: %d keys, rp_filter of ib0 = %q", len(first.Sysctls), v)
	}
	if _, ok := first.Sysctls["net.ipv4.tcp_fastopen_key"]; ok {
		t.Error("net.ipv4.tcp_fastopen_key was recorded")
	}
	if first.ResolvConf == nil || first.ResolvConf.Content != resolvContent {
		t.Errorf("resolv.conf = %+v", first.ResolvConf)
	}
	if h.HasIptables && !strings.Contains(fmt.Sprint(first.Netfilter.Rulesets), "dport 9") {
		t.Errorf("the fake host's firewall rule is missing from %+v", first.Netfilter)
	}
	if first.Netns != mustReadlink(t, threadNetns) {
		t.Errorf("Netns = %q, want this namespace", first.Netns)
	}
}

// A change made to the host must show up, as the expected Change and in
// the text; undoing it must bring back an empty diff.
func TestSnapshotSeesChanges(t *testing.T) {
	h := newFakeHost(t)
	base := take(t, h, nil)

	rpPath := "/proc/sys/net/ipv4/conf/ib0/rp_filter"
	rpOld := strings.TrimSpace(readFile(t, rpPath))
	rpNew := "1"
	if rpOld == "1" {
		rpNew = "2"
	}
	var listenerPort int

	tests := []struct {
		name   string
		skip   string
		change func(t *testing.T) (undo func())
		want   func(c Change) bool
		line   func() string // a line of Diff.String()
	}{
		{
			name:   "mtu",
			change: cmdChange("ip link set ib0 mtu 4092", "ip link set ib0 mtu 2044"),
			want:   isChange(Change{Op: Changed, Kind: KindLink, Object: "ib0", Field: "mtu", Before: "2044", After: "4092"}),
			line:   fixed("link ib0: mtu 2044 -> 4092"),
		},
		{
			name:   "address added",
			change: cmdChange("ip addr add 10.201.0.77/24 dev ib0", "ip addr del 10.201.0.77/24 dev ib0"),
			want:   isChange(Change{Op: Added, Kind: KindAddress, Object: "10.201.0.77/24 on ib0"}),
			line:   fixed("+ address 10.201.0.77/24 on ib0"),
		},
		{
			name: "route added to table 100",
			change: cmdChange("ip route add 10.9.0.0/16 via 10.201.0.1 dev ib0 table 100",
				"ip route del 10.9.0.0/16 via 10.201.0.1 dev ib0 table 100"),
			want: func(c Change) bool {
				return c.Op == Added && c.Kind == KindRoute && strings.HasPrefix(c.Object, "inet table 100: 10.9.0.0/16 via 10.201.0.1 dev ib0 ")
			},
			line: fixed("+ route inet table 100: 10.9.0.0/16 via 10.201.0.1 dev ib0 "),
		},
		{
			name: "rule deleted",
			change: cmdChange("ip rule del pref "+fakeRulePref,
				"ip rule add from 10.201.0.0/24 lookup 100 pref "+fakeRulePref),
			want: func(c Change) bool {
				return c.Op == Removed && c.Kind == KindRule && strings.HasPrefix(c.Object, "inet 1000: from 10.201.0.0/24 lookup 100")
			},
			line: fixed("- rule inet 1000: from 10.201.0.0/24 lookup 100"),
		},
		{
			name:   "firewall rule added",
			skip:   skipUnless(h.HasIptables, "iptables not found"),
			change: cmdChange("iptables -A INPUT -p tcp --dport 4242 -j DROP", "iptables -D INPUT -p tcp --dport 4242 -j DROP"),
			want: func(c Change) bool {
				return c.Op == Added && c.Kind == KindNetfilter && strings.Contains(c.After, "dport 4242")
			},
			line: fixed("+ netfilter "),
		},
		{
			name: "sysctl changed",
			change: func(t *testing.T) func() {
				writeFile(t, rpPath, rpNew)
				return func() { writeFile(t, rpPath, rpOld) }
			},
			want: isChange(Change{Op: Changed, Kind: KindSysctl, Object: "net.ipv4.conf.ib0.rp_filter", Before: rpOld, After: rpNew}),
			line: func() string { return "sysctl net.ipv4.conf.ib0.rp_filter: " + rpOld + " -> " + rpNew },
		},
		{
			name: "resolv.conf rewritten",
			change: func(t *testing.T) func() {
				writeFile(t, h.ResolvConf, "nameserver 10.200.0.53\n")
				return func() { writeFile(t, h.ResolvConf, resolvContent) }
			},
			want: isChange(Change{Op: Added, Kind: KindResolvConf, Object: h.ResolvConf, After: "nameserver 10.200.0.53"}),
			line: fixed("- resolv.conf " + h.ResolvConf + ": nameserver 10.200.0.1"),
		},
		{
			name: "tcp listener",
			change: func(t *testing.T) func() {
				ln, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				listenerPort = ln.Addr().(*net.TCPAddr).Port
				return func() { ln.Close() }
			},
			want: func(c Change) bool {
				return c.Op == Added && c.Kind == KindListener && strings.HasPrefix(c.Object, fmt.Sprintf("tcp 127.0.0.1:%d inode ", listenerPort))
			},
			line: func() string { return fmt.Sprintf("+ listener tcp 127.0.0.1:%d inode ", listenerPort) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			undo := sync.OnceFunc(tt.change(t))
			t.Cleanup(undo)

			d := Compare(base, take(t, h, nil))
			if !slices.ContainsFunc(d.Changes, tt.want) {
				t.Errorf("expected change not found in:\n%s", d)
			}
			if line := tt.line(); !strings.Contains(d.String(), line) {
				t.Errorf("Diff.String() has no %q:\n%s", line, d)
			}

			undo()
			if d := Compare(base, take(t, h, nil)); !d.Empty() {
				t.Errorf("still different after undoing the change:\n%s", d)
			}
		})
	}
}

// ListenerFilter keeps only the sockets it is asked to: here, the one the
// test opened, identified by its inode as the guard would do for the
// instance's sockets.
func TestSnapshotListenerFilter(t *testing.T) {
	h := newFakeHost(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	other, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })

	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	err = syscall.Fstat(int(f.Fd()), &st)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	all := take(t, h, nil).Listeners
	if len(all) != 2 {
		t.Errorf("without a filter: %v, want the tcp and the udp socket", all)
	}
	only := take(t, h, func(inode uint64) bool { return inode == st.Ino }).Listeners
	want := []Listener{{Proto: "tcp", Addr: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Inode: st.Ino}}
	if !slices.Equal(only, want) {
		t.Errorf("with a filter: %v, want %v", only, want)
	}
}

func cmdChange(do, undo string) func(t *testing.T) func() {
	return func(t *testing.T) func() {
		sh(t, do)
		return func() { sh(t, undo) }
	}
}

func isChange(want Change) func(Change) bool {
	return func(c Change) bool { return c == want }
}

func skipUnless(ok bool, why string) string {
	if ok {
		return ""
	}
	return why
}

func fixed(s string) func() string { return func() string { return s } }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustReadlink(t *testing.T, path string) string {
	t.Helper()
	s, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
