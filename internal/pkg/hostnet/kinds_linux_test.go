package hostnet

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// newKinds fills in everything a snapshot records since issue 14.
func newKinds(s *Snapshot) *Snapshot {
	alias, txqlen := "", 1000
	for i := range s.Links {
		s.Links[i].Alias, s.Links[i].TxQLen = &alias, &txqlen
	}
	s.Neighbours = newObjects([]Entry{{ID: "10.201.0.8 on ib0", Value: "lladdr 02:00:00:00:00:08 permanent"}})
	s.XfrmPolicies = newObjects([]Entry{{ID: "src 10.201.0.0/24 dst 10.9.0.0/16 dir out", Value: "priority 0 action allow"}})
	s.XfrmStates = newObjects(nil)
	s.AddrLabels = newObjects([]Entry{{ID: "prefix ::1/128", Value: "label 0"}})
	s.Nexthops = newObjects([]Entry{{ID: "id 7", Value: "gateway 10.201.0.1 dev ib0 scope link"}})
	s.Multicast = newObjects([]Entry{{ID: "inet 224.0.0.1 on ib0"}, {ID: "link 01:00:5e:00:00:01 on ib0"}})
	s.Sysfs = &Mount{Path: "/sys", FSType: "sysfs", Source: "sysfs", Options: "rw,nosuid,nodev,noexec,relatime", SuperOptions: "rw"}
	s.Kernel = &Kernel{
		Sysctls:    map[string]string{"kernel.core_pattern": "core", "vm.swappiness": "60"},
		BinfmtMisc: BinfmtMisc{Status: "enabled", Entries: map[string]string{}},
	}
	return s
}

// oldBaseline is a baseline as the guard wrote it before issue 14: none
// of the new fields.
const oldBaseline = `{"netns":"net:[4026532000]",
"links":[{"name":"ib0","index":3,"type":"veth","operState":"up","adminUp":true,"mtu":2044,"flags":["BROADCAST","MULTICAST"],"linkAddr":"02:00:00:00:00:01"},
{"name":"lo","index":1,"type":"device","operState":"unknown","adminUp":true,"mtu":65536,"flags":["LOOPBACK"]}],
"addresses":[{"link":"ib0","cidr":"10.201.0.2/24","family":"inet","scope":"global","flags":["permanent"]},
{"link":"lo","cidr":"127.0.0.1/8","family":"inet","scope":"host","flags":["permanent"]}],
"routes":[{"family":"inet","table":"100","type":"unicast","dst":"default","gateway":"10.201.0.1","dev":"ib0","proto":"boot","scope":"global","metric":0},
{"family":"inet","table":"main","type":"unicast","dst":"10.201.0.0/24","dev":"ib0","proto":"kernel","scope":"link","src":"10.201.0.2","metric":0}],
"rules":[{"family":"inet","priority":0,"from":"all","action":"lookup local","suppressPrefixlen":-1,"suppressIfgroup":-1,"proto":"kernel"},
{"family":"inet","priority":1000,"from":"10.201.0.0/24","action":"lookup 100","suppressPrefixlen":-1,"suppressIfgroup":-1,"proto":"boot"}],
"netfilter":{"rulesets":[{"tool":"nft","lines":["table ip filter","table ip filter > chain INPUT","table ip filter > chain INPUT: tcp dport 9 counter drop"]}]},
"sysctls":{"net.ipv4.conf.ib0.rp_filter":"0","net.ipv4.ip_forward":"0","net.unix.max_dgram_qlen":"10"},
"resolvConf":{"path":"/etc/resolv.conf","content":"nameserver 10.200.0.1\n"},
"listeners":[{"proto":"tcp","addr":"0.0.0.0","port":22,"inode":100}]}`

// A baseline from before issue 14 still loads, and compares clean with a
// snapshot of the same host that records everything: what the baseline
// did not record is not compared, not taken for empty.
func TestCompareOldBaseline(t *testing.T) {
	var old Snapshot
	if err := json.Unmarshal([]byte(oldBaseline), &old); err != nil {
		t.Fatal(err)
	}
	if d := Compare(&old, baseSnapshot()); !d.Empty() {
		t.Fatalf("the old baseline does not describe baseSnapshot():\n%s", d)
	}
	now := newKinds(baseSnapshot())
	if d := Compare(&old, now); !d.Empty() {
		t.Errorf("an old baseline against a new snapshot reports:\n%s", d)
	}
	// And a change of an old kind is still seen.
	now.Links[0].MTU = 4092
	if got := Compare(&old, now).String(); got != "link ib0: mtu 2044 -> 4092" {
		t.Errorf("Compare() = %q", got)
	}
}

// A new baseline survives JSON, and a later snapshot that lacks what the
// baseline recorded (a caller that changed its options) says so.
func TestCompareNewKindsRecorded(t *testing.T) {
	base := newKinds(baseSnapshot())
	b, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := Compare(base, &back); !d.Empty() {
		t.Errorf("a new snapshot changed through JSON:\n%s", d)
	}
	if !reflect.DeepEqual(base.XfrmStates, back.XfrmStates) || back.XfrmStates == nil || back.XfrmStates.Entries == nil {
		t.Errorf("an empty table came back as %+v", back.XfrmStates)
	}
	want := []string{
		"nexthop: recorded yes -> no",
		"sysctl kernel.*, vm.*, fs.*: recorded yes -> no",
	}
	after := newKinds(baseSnapshot())
	after.Nexthops, after.Kernel = nil, nil
	if got := strings.Split(Compare(base, after).String(), "\n"); !slices.Equal(got, want) {
		t.Errorf("Compare() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCompareNewKinds(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Snapshot)
		want   []string
	}{
		{name: "identical", mutate: func(*Snapshot) {}},
		{
			name:   "txqueuelen",
			mutate: func(s *Snapshot) { n := 500; s.Links[0].TxQLen = &n },
			want:   []string{"link ib0: txqlen 1000 -> 500"},
		},
		{
			name:   "alias",
			mutate: func(s *Snapshot) { a := "uplink"; s.Links[0].Alias = &a },
			want:   []string{`link ib0: alias "" -> uplink`},
		},
		{
			name: "a new link shows its txqueuelen and alias",
			mutate: func(s *Snapshot) {
				a, n := "vlan 100", 1000
				s.Links = append(s.Links, Link{Name: "eth0.100", Index: 9, Type: "vlan", OperState: "up", AdminUp: true, MTU: 1500, Alias: &a, TxQLen: &n})
				s.Multicast.Entries = append(s.Multicast.Entries, Entry{ID: "inet 224.0.0.1 on eth0.100"})
			},
			want: []string{`+ link eth0.100: vlan index 9 mtu 1500 admin up state up txqlen 1000 alias "vlan 100"`},
		},
		{
			name:   "neighbour replaced",
			mutate: func(s *Snapshot) { s.Neighbours.Entries[0].Value = "lladdr 02:00:00:00:00:18 permanent" },
			want:   []string{"neighbour 10.201.0.8 on ib0: lladdr 02:00:00:00:00:08 permanent -> lladdr 02:00:00:00:00:18 permanent"},
		},
		{
			name:   "neighbour removed",
			mutate: func(s *Snapshot) { s.Neighbours.Entries = nil },
			want:   []string{"- neighbour 10.201.0.8 on ib0: lladdr 02:00:00:00:00:08 permanent"},
		},
		{
			name: "xfrm state added",
			mutate: func(s *Snapshot) {
				s.XfrmStates = newObjects([]Entry{{ID: "src a dst b proto esp spi 0x00001000", Value: "reqid 1"}})
			},
			want: []string{"+ xfrm state src a dst b proto esp spi 0x00001000: reqid 1"},
		},
		{
			name:   "xfrm became unavailable",
			mutate: func(s *Snapshot) { s.XfrmPolicies = unavailableObjects("gone") },
			want: []string{
				`xfrm policy: unavailable "" -> gone`,
				"- xfrm policy src 10.201.0.0/24 dst 10.9.0.0/16 dir out: priority 0 action allow",
			},
		},
		{
			name:   "address label changed",
			mutate: func(s *Snapshot) { s.AddrLabels.Entries[0].Value = "label 9" },
			want:   []string{"addrlabel prefix ::1/128: label 0 -> label 9"},
		},
		{
			name: "multicast static address",
			mutate: func(s *Snapshot) {
				s.Multicast = newObjects(append(s.Multicast.Entries, Entry{ID: "link 01:00:5e:01:02:03 on ib0", Value: "static"}))
			},
			want: []string{"+ multicast link 01:00:5e:01:02:03 on ib0: static"},
		},
		{
			name:   "sysfs read-only",
			mutate: func(s *Snapshot) { s.Sysfs.SuperOptions = "ro" },
			want:   []string{"sysfs mount /sys: super options rw -> ro"},
		},
		{
			name: "kernel sysctl and binfmt_misc handler",
			mutate: func(s *Snapshot) {
				s.Kernel.Sysctls["kernel.core_pattern"] = "|/tmp/x"
				s.Kernel.BinfmtMisc.Entries["evil"] = "enabled; interpreter /tmp/x"
			},
			want: []string{
				"sysctl kernel.core_pattern: core -> |/tmp/x",
				"+ binfmt_misc evil: enabled; interpreter /tmp/x",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, after := newKinds(baseSnapshot()), newKinds(baseSnapshot())
			tt.mutate(after)
			got := []string{}
			if s := Compare(before, after).String(); s != "" {
				got = strings.Split(s, "\n")
			}
			if !slices.Equal(got, append([]string{}, tt.want...)) {
				t.Errorf("Compare():\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestNewObjects(t *testing.T) {
	got := newObjects([]Entry{{ID: "b", Value: "2"}, {ID: "a"}, {ID: "b", Value: "1"}})
	want := &Objects{Entries: []Entry{{ID: "a"}, {ID: "b", Value: "1 | 2"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("newObjects() = %+v, want %+v", got, want)
	}
	if o := newObjects(nil); o.Entries == nil {
		t.Error("newObjects(nil) has nil entries: it would read back as not recorded")
	}
}

func TestNeighbourEntry(t *testing.T) {
	links := map[int]Link{
		3: {Name: "ib0", Index: 3, Flags: []string{"BROADCAST", "MULTICAST"}, LinkAddr: "02:00:00:00:00:01"},
		1: {Name: "lo", Index: 1, Flags: []string{"LOOPBACK"}},
		5: {Name: "wg0", Index: 5, Flags: []string{"POINTOPOINT", "NOARP"}},
	}
	bcast := localBroadcasts([]Route{
		{Family: "inet", Table: "local", Type: "broadcast", Dst: "10.201.0.255/32"},
		{Family: "inet", Table: "local", Type: "local", Dst: "10.201.0.2/32"},
	})
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 9}
	tests := []struct {
		name  string
		neigh netlink.Neigh
		want  *Entry // nil: not recorded
	}{
		{"permanent", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("10.201.0.9"), HardwareAddr: mac, State: netlink.NUD_PERMANENT},
			&Entry{ID: "10.201.0.9 on ib0", Value: "lladdr 02:00:00:00:00:09 permanent"}},
		{"permanent ipv6 router", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("fd00::9"), HardwareAddr: mac, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_ROUTER},
			&Entry{ID: "fd00::9 on ib0", Value: "lladdr 02:00:00:00:00:09 permanent router"}},
		{"reachable", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("10.201.0.1"), HardwareAddr: mac, State: netlink.NUD_REACHABLE}, nil},
		{"stale", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("10.201.0.1"), HardwareAddr: mac, State: netlink.NUD_STALE}, nil},
		{"failed", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("10.201.0.1"), State: netlink.NUD_FAILED}, nil},
		{"noarp by hand", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("10.201.0.10"), HardwareAddr: mac, State: netlink.NUD_NOARP},
			&Entry{ID: "10.201.0.10 on ib0", Value: "lladdr 02:00:00:00:00:09 noarp"}},
		{"kernel noarp: multicast", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("224.0.0.22"), State: netlink.NUD_NOARP}, nil},
		{"kernel noarp: ipv6 multicast", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("ff02::16"), State: netlink.NUD_NOARP}, nil},
		{"kernel noarp: subnet broadcast", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("10.201.0.255"), State: netlink.NUD_NOARP}, nil},
		{"kernel noarp: limited broadcast", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("255.255.255.255"), State: netlink.NUD_NOARP}, nil},
		{"kernel noarp: loopback", netlink.Neigh{LinkIndex: 1, IP: net.ParseIP("127.0.0.1"), State: netlink.NUD_NOARP}, nil},
		{"kernel noarp: noarp link", netlink.Neigh{LinkIndex: 5, IP: net.ParseIP("10.9.0.1"), State: netlink.NUD_NOARP}, nil},
		{"externally learned, whatever its state", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("10.201.0.12"), HardwareAddr: mac, State: netlink.NUD_STALE, Flags: netlink.NTF_EXT_LEARNED | netlink.NTF_ROUTER},
			&Entry{ID: "10.201.0.12 on ib0", Value: "extern_learn"}},
		{"managed", netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("10.201.0.13"), State: netlink.NUD_PROBE, FlagsExt: netlink.NTF_EXT_MANAGED},
			&Entry{ID: "10.201.0.13 on ib0", Value: "managed"}},
		{"unknown link", netlink.Neigh{LinkIndex: 42, IP: net.ParseIP("10.201.0.9"), HardwareAddr: mac, State: netlink.NUD_PERMANENT},
			&Entry{ID: "10.201.0.9 on if42", Value: "lladdr 02:00:00:00:00:09 permanent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := neighbourEntry(tt.neigh, links, bcast)
			if ok != (tt.want != nil) || (ok && got != *tt.want) {
				t.Errorf("neighbourEntry() = %+v, %v; want %+v", got, ok, tt.want)
			}
		})
	}
	if got := proxyEntry(netlink.Neigh{LinkIndex: 3, IP: net.ParseIP("10.201.0.11"), Flags: netlink.NTF_PROXY}, links); got != (Entry{ID: "proxy 10.201.0.11 on ib0"}) {
		t.Errorf("proxyEntry() = %+v", got)
	}
}

func TestParseMulticast(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("dev_mcast", ""+
		"1    lo              1     0     01005e000001\n"+
		"3    ib0             1     0     333300000001\n"+
		"3    ib0             2     0     3333ff4047b1\n"+ // solicited-node: left out
		"3    ib0             1     1     3333ff000099\n"+ // the same, added by hand: kept
		"3    ib0             1     1     01005e010203\n"+
		"4    ibp0            1     0     00ffffffff12601bffff00000000000000000001\n"+
		"4    ibp0            1     0     00ffffffff12601bffff000000000001ff123456\n") // IPoIB solicited-node
	// igmp prints a group as the 32-bit word it is in memory, read in
	// host byte order: 224.0.0.1 is 010000E0 on a little-endian host.
	group := func(ip string) string { return fmt.Sprintf("%08X", binary.NativeEndian.Uint32(net.ParseIP(ip).To4())) }
	write("igmp", "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n"+
		"1\tlo        :     1      V3\n"+
		"\t\t\t\t"+group("224.0.0.1")+"     1 0:00000000\t\t0\n"+
		"3\tib0       :     2      V2\n"+
		"\t\t\t\t"+group("239.1.2.3")+"     1 0:00000000\t\t0\n"+
		"\t\t\t\t"+group("224.0.0.1")+"     1 0:00000000\t\t0\n")
	write("igmp6", ""+
		"3    ib0             ff0200000000000000000001ff4047b1     1 00000004 0\n"+
		"3    ib0             ff020000000000000000000000000001     1 0000000C 0\n"+
		"3    ib0             ff020000000000000000000000001234     2 00000004 1\n")
	got, err := collectMulticast(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := newObjects([]Entry{
		{ID: "link 01:00:5e:00:00:01 on lo"},
		{ID: "link 33:33:00:00:00:01 on ib0"},
		{ID: "link 33:33:ff:00:00:99 on ib0", Value: "static"},
		{ID: "link 01:00:5e:01:02:03 on ib0", Value: "static"},
		{ID: "link 00:ff:ff:ff:ff:12:60:1b:ff:ff:00:00:00:00:00:00:00:00:00:01 on ibp0"},
		{ID: "inet 224.0.0.1 on lo"},
		{ID: "inet 239.1.2.3 on ib0"},
		{ID: "inet 224.0.0.1 on ib0"},
		{ID: "inet6 ff02::1 on ib0"},
		{ID: "inet6 ff02::1234 on ib0"},
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("collectMulticast() =\n%+v\nwant\n%+v", got.Entries, want.Entries)
	}
}

func TestParseIPObjects(t *testing.T) {
	labels, err := parseAddrLabels(json.RawMessage(`[{"address":"::1","prefixlen":128,"label":0},{"address":"2001:db8:1::","prefixlen":64,"ifname":"a0","label":98}]`))
	if err != nil {
		t.Fatal(err)
	}
	if want := newObjects([]Entry{{ID: "prefix ::1/128", Value: "label 0"}, {ID: "prefix 2001:db8:1::/64 dev a0", Value: "label 98"}}); !reflect.DeepEqual(labels, want) {
		t.Errorf("parseAddrLabels() = %+v", labels.Entries)
	}

	nhs, err := parseNexthops(json.RawMessage(`[
		{"id":1,"gateway":"10.9.0.2","dev":"a0","scope":"link","flags":["dead","linkdown"]},
		{"id":3,"blackhole":null,"flags":[]},
		{"id":4,"gateway":"10.9.0.3","dev":"a0","scope":"link","protocol":"static","flags":["onlink"]},
		{"id":10,"group":[{"id":1},{"id":2,"weight":3}],"flags":[]},
		{"id":11,"group":[{"id":1},{"id":2}],"type":"resilient","resilient_args":{"buckets":8,"idle_timer":60,"unbalanced_timer":0,"unbalanced_time":17},"flags":[]},
		{"id":12,"dev":"a0","scope":"host","hw_stats":"off","flags":[]}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := newObjects([]Entry{
		{ID: "id 1", Value: "gateway 10.9.0.2 dev a0 scope link"},
		{ID: "id 3", Value: "blackhole"},
		{ID: "id 4", Value: "gateway 10.9.0.3 dev a0 scope link protocol static onlink"},
		{ID: "id 10", Value: "group 1/2,3"},
		{ID: "id 11", Value: "group 1/2 type resilient buckets 8 idle_timer 60 unbalanced_timer 0"},
		{ID: "id 12", Value: "dev a0 scope host hw_stats off"},
	})
	if !reflect.DeepEqual(nhs, want) {
		t.Errorf("parseNexthops() =\n%+v\nwant\n%+v", nhs.Entries, want.Entries)
	}
	if _, err := parseNexthops(json.RawMessage(`[{"gateway":"10.9.0.2"}]`)); err == nil {
		t.Error("a nexthop without an id: want an error")
	}
}

func TestDecodeJSONValues(t *testing.T) {
	out := make([]json.RawMessage, 2)
	if err := decodeJSONValues([]byte("[1]\n[]\n"), out); err != nil || string(out[0]) != "[1]" || string(out[1]) != "[]" {
		t.Errorf("decodeJSONValues() = %s, %v", out, err)
	}
	if err := decodeJSONValues([]byte("[1]\n"), out); err == nil {
		t.Error("one value for two commands: want an error")
	}
	if err := decodeJSONValues([]byte("[1] [2] [3]"), out); err == nil {
		t.Error("three values for two commands: want an error")
	}
}

// collectIPObjects records a missing ip as unavailable, and falls back to
// one command at a time when the batch fails, recording the command that
// the kernel refuses with ip's message.
func TestCollectIPObjectsFallback(t *testing.T) {
	if got, _, err := collectIPObjects(func(string) string { return "" }); err != nil || got.Unavailable != "iproute2's ip was not found" {
		t.Errorf("no ip: %+v, %v", got, err)
	}
	fake := filepath.Join(t.TempDir(), "ip")
	script := `#!/bin/sh
read -r cmd; read -r more
case "$cmd" in
addrlabel*) echo '[{"address":"::1","prefixlen":128,"label":0}]' ;;
nexthop*) echo "Error: Operation not supported." >&2; exit 2 ;;
esac
[ -z "$more" ] || { echo "Command failed -:2" >&2; exit 1; }
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	labels, nhs, err := collectIPObjects(func(string) string { return fake })
	if err != nil {
		t.Fatal(err)
	}
	if len(labels.Entries) != 1 || labels.Unavailable != "" {
		t.Errorf("labels = %+v", labels)
	}
	if nhs.Unavailable != "ip nexthop show: Error: Operation not supported." || len(nhs.Entries) != 0 {
		t.Errorf("nexthops = %+v", nhs)
	}
}

func TestXfrmEntries(t *testing.T) {
	authKey := []byte("0123456789abcdef0123456789abcdef")
	encKey := []byte("fedcba9876543210")
	state := netlink.XfrmState{
		Src: net.ParseIP("10.201.0.2"), Dst: net.ParseIP("10.201.0.9"), Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TUNNEL,
		Spi: 0x1000, Reqid: 1, ReplayWindow: 32,
		Auth:   &netlink.XfrmStateAlgo{Name: "hmac(sha256)", Key: authKey, TruncateLen: 128},
		Crypt:  &netlink.XfrmStateAlgo{Name: "cbc(aes)", Key: encKey},
		Mark:   &netlink.XfrmMark{Value: 1, Mask: 0xff},
		Limits: netlink.XfrmStateLimits{ByteSoft: xfrmInf, ByteHard: xfrmInf, PacketSoft: xfrmInf, PacketHard: xfrmInf, TimeHard: 3600},
		// Traffic state, not recorded.
		Statistics: netlink.XfrmStateStats{Bytes: 1234, Packets: 5, AddTime: 1700000000},
		Replay:     &netlink.XfrmReplayState{OSeq: 9, Seq: 7},
		Selector:   &netlink.XfrmPolicy{Src: mustCIDR(t, "10.201.0.0/24"), Dst: mustCIDR(t, "10.9.0.0/16")},
	}
	got := xfrmStateEntry(state, nil)
	want := Entry{
		ID: "src 10.201.0.2 dst 10.201.0.9 proto esp spi 0x00001000 mark 0x1/0xff",
		Value: "reqid 1 mode tunnel replay-window 32 auth hmac(sha256) key " + keyFingerprint(authKey) + " trunc 128 enc cbc(aes) key " + keyFingerprint(encKey) +
			" sel src 10.201.0.0/24 dst 10.9.0.0/16 limit time-hard 3600",
	}
	if got != want {
		t.Errorf("xfrmStateEntry() =\n%+v\nwant\n%+v", got, want)
	}
	for _, key := range [][]byte{authKey, encKey} {
		if strings.Contains(got.Value, string(key)) || strings.Contains(got.Value, hex.EncodeToString(key)) {
			t.Errorf("a key shows in %q", got.Value)
		}
	}
	state.Statistics.Bytes, state.Replay.OSeq = 99999, 99
	if again := xfrmStateEntry(state, nil); again != got {
		t.Errorf("traffic changed the entry: %+v", again)
	}
	state.Crypt.Key = []byte("fedcba9876543211")
	if again := xfrmStateEntry(state, nil); again == got {
		t.Error("a new key does not change the entry")
	}

	// With the message header, IPv6 addresses keep their family and
	// prefix length, which the library's guess loses for fd00:1::/64.
	var h nl.XfrmUserpolicyInfo
	h.Sel.Family = unix.AF_INET6
	h.Sel.Saddr.FromIP(net.ParseIP("fd00:1::"))
	h.Sel.Daddr.FromIP(net.ParseIP("fd00:2::"))
	h.Sel.PrefixlenS, h.Sel.PrefixlenD = 64, 64
	h.Sel.Proto, h.Sel.Dport = unix.IPPROTO_TCP, nl.Swap16(22)
	h.Index, h.Flags = 8, 1
	h.Lft = nl.XfrmLifetimeCfg{SoftByteLimit: xfrmInf, HardByteLimit: xfrmInf, SoftPacketLimit: xfrmInf, HardPacketLimit: xfrmInf}
	policy := netlink.XfrmPolicy{
		Src: &net.IPNet{IP: net.ParseIP("253.0.0.1")}, Dst: &net.IPNet{IP: net.ParseIP("253.0.0.2")}, // the library's guess
		Proto: unix.IPPROTO_TCP, DstPort: 22, Dir: netlink.XFRM_DIR_IN, Index: 8, Priority: 5, Action: netlink.XFRM_POLICY_BLOCK,
	}
	if got, want := xfrmPolicyEntry(policy, &h), (Entry{ID: "src fd00:1::/64 dst fd00:2::/64 proto 6 dport 22 dir in", Value: "priority 5 action block flag localok"}); got != want {
		t.Errorf("xfrmPolicyEntry() = %+v, want %+v", got, want)
	}
}

func TestReadMount(t *testing.T) {
	mi := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(mi, []byte(""+
		"22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw\n"+
		"23 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw\n"+
		"24 23 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:7 - securityfs securityfs rw\n"+
		"90 23 0:22 / /sys ro,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs ro\n"+
		"91 1 0:50 / /mnt/with\\040blank rw,relatime - tmpfs my\\040tmp rw,size=1024k\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := readMount(mi, "/sys"), (&Mount{Path: "/sys", FSType: "sysfs", Source: "sysfs", Options: "ro,nosuid,nodev,noexec,relatime", SuperOptions: "ro"}); !reflect.DeepEqual(got, want) {
		t.Errorf("readMount(/sys) = %+v, want the topmost mount %+v", got, want)
	}
	if got := readMount(mi, "/mnt/with blank"); got.Source != "my tmp" || got.SuperOptions != "rw,size=1024k" {
		t.Errorf("readMount(blank) = %+v", got)
	}
	if got := readMount(mi, "/dev"); got.Unavailable != "not a mount point" {
		t.Errorf("readMount(/dev) = %+v", got)
	}
	if got := readMount(filepath.Join(t.TempDir(), "nope"), "/sys"); got.Unavailable == "" {
		t.Errorf("readMount(missing file) = %+v", got)
	}
}

// The kernel.*, vm.* and fs.* trees are read with their exclusions, and
// without fs.binfmt_misc, which is a file system of its own.
func TestCollectKernel(t *testing.T) {
	root := t.TempDir()
	for rel, content := range map[string]string{
		"kernel/core_pattern":         "core\n",
		"kernel/ns_last_pid":          "4242\n",
		"kernel/random/uuid":          "0126b9b0-a30c-4255-b1c6-8d387c7c087d\n",
		"kernel/random/boot_id":       "4d5c2b0e-0000-0000-0000-000000000000\n",
		"kernel/printk":               "4\t4\t1\t7\n",
		"vm/swappiness":               "60\n",
		"fs/file-nr":                  "920\t0\t2466290\n",
		"fs/file-max":                 "2466290\n",
		"fs/quota/lookups":            "12\n",
		"fs/binfmt_misc/status":       "enabled\n",
		"fs/mqueue/queues_max":        "256\n",
		"fs/binfmt_misc/qemu-aarch64": "enabled\n",
	} {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	oldRoot, oldOpen := procSys, openBinfmtMisc
	procSys = root
	openBinfmtMisc = func() (*os.File, func(), error) {
		d, err := os.Open(filepath.Join(root, "fs", "binfmt_misc"))
		return d, func() { d.Close() }, err
	}
	t.Cleanup(func() { procSys, openBinfmtMisc = oldRoot, oldOpen })

	k, err := collectKernel()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kernel.core_pattern":   "core",
		"kernel.random.boot_id": "4d5c2b0e-0000-0000-0000-000000000000",
		"kernel.printk":         "4 4 1 7",
		"vm.swappiness":         "60",
		"fs.file-max":           "2466290",
		"fs.mqueue.queues_max":  "256",
	}
	if !maps.Equal(k.Sysctls, want) {
		t.Errorf("kernel sysctls = %v, want %v", k.Sysctls, want)
	}
	if want := (BinfmtMisc{Status: "enabled", Entries: map[string]string{"qemu-aarch64": "enabled"}}); !reflect.DeepEqual(k.BinfmtMisc, want) {
		t.Errorf("binfmt_misc = %+v, want %+v", k.BinfmtMisc, want)
	}
}

func TestReadBinfmtDir(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"status":       "disabled\n",
		"register":     "",
		"qemu-aarch64": "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\nmagic 7f454c46\nmask ffffffff\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := readBinfmtDir(d)
	want := BinfmtMisc{Status: "disabled", Entries: map[string]string{
		"qemu-aarch64": "enabled; interpreter /usr/bin/qemu-aarch64-static; flags: F; offset 0; magic 7f454c46; mask ffffffff",
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readBinfmtDir() = %+v, want %+v", got, want)
	}

	old := openBinfmtMisc
	t.Cleanup(func() { openBinfmtMisc = old })
	openBinfmtMisc = func() (*os.File, func(), error) { return nil, nil, os.ErrPermission }
	if b := readBinfmtMisc(); b.Unavailable != os.ErrPermission.Error() || b.Entries == nil {
		t.Errorf("readBinfmtMisc() without access = %+v", b)
	}
}
