package hostnet

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func TestReadSysctls(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("ipv4/ip_forward", "0\n", 0o644)
	write("ipv4/tcp_rmem", "4096\t131072\t6291456\n", 0o644)
	write("ipv4/conf/eth0.100/rp_filter", "2\n", 0o644)
	write("ipv4/tcp_fastopen_key", "00000000-00000000-00000000-00000000\n", 0o600)
	write("netfilter/nf_conntrack_count", "12\n", 0o444)
	write("unix/max_dgram_qlen", "512\n", 0o644)

	got, err := readSysctls(root)
	if err != nil {
		t.Fatalf("readSysctls() error: %v", err)
	}
	want := map[string]string{
		"net.ipv4.ip_forward":              "0",
		"net.ipv4.tcp_rmem":                "4096 131072 6291456",
		"net.ipv4.conf.eth0/100.rp_filter": "2",
		"net.unix.max_dgram_qlen":          "512",
	}
	if !maps.Equal(got, want) {
		t.Errorf("readSysctls() = %v, want %v", got, want)
	}
}

// A write-only file (route.flush) cannot be read, not even by root
// through procfs, whose permission check root does not bypass; the walk
// goes on without it. The test reads this network namespace's real
// /proc/sys/net, so it runs (and means the same) as root and as a user.
func TestReadSysctlsSkipsUnreadable(t *testing.T) {
	const flush = "/proc/sys/net/ipv4/route/flush"
	if _, err := os.ReadFile(flush); err == nil {
		t.Fatalf("%s can be read here: the test would prove nothing", flush)
	}
	got, err := readSysctls("/proc/sys/net")
	if err != nil {
		t.Fatalf("readSysctls() error: %v", err)
	}
	if _, ok := got["net.ipv4.route.flush"]; ok {
		t.Error("the unreadable net.ipv4.route.flush has a value")
	}
	for _, key := range []string{"net.ipv4.ip_forward", "net.ipv4.conf.lo.forwarding"} {
		if _, ok := got[key]; !ok {
			t.Errorf("%s is missing: the walk stopped at the unreadable file? (%d values)", key, len(got))
		}
	}
}

func TestReadSysctlsMissingRoot(t *testing.T) {
	if _, err := readSysctls(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("readSysctls() on a missing root: want an error")
	}
}

func TestSysctlKeyAndLink(t *testing.T) {
	tests := []struct {
		rel     string
		key     string
		link    string
		perLink bool
	}{
		{"ipv4/ip_forward", "net.ipv4.ip_forward", "", false},
		{"ipv4/conf/ib0/rp_filter", "net.ipv4.conf.ib0.rp_filter", "ib0", true},
		{"ipv6/conf/eth0.100/mtu", "net.ipv6.conf.eth0/100.mtu", "eth0.100", true},
		{"ipv4/neigh/ib0/gc_stale_time", "net.ipv4.neigh.ib0.gc_stale_time", "ib0", true},
		{"ipv4/conf/all/forwarding", "net.ipv4.conf.all.forwarding", "", false},
		{"ipv6/conf/default/accept_ra", "net.ipv6.conf.default.accept_ra", "", false},
		{"mpls/conf/ib0/input", "net.mpls.conf.ib0.input", "ib0", true},
		{"core/somaxconn", "net.core.somaxconn", "", false},
	}
	for _, tt := range tests {
		key := sysctlKey(tt.rel)
		if key != tt.key {
			t.Errorf("sysctlKey(%q) = %q, want %q", tt.rel, key, tt.key)
		}
		link, ok := sysctlLink(key)
		if link != tt.link || ok != tt.perLink {
			t.Errorf("sysctlLink(%q) = %q, %v; want %q, %v", key, link, ok, tt.link, tt.perLink)
		}
	}
}
