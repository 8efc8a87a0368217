package hostnet

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// baseSnapshot is a small fake host: lo and ib0, a policy rule with its
// table, one firewall rule, a few sysctls, resolv.conf and a listener.
func baseSnapshot() *Snapshot {
	return &Snapshot{
		Netns: "net:[4026532000]",
		Links: []Link{
			{Name: "ib0", Index: 3, Type: "veth", OperState: "up", AdminUp: true, MTU: 2044, Flags: []string{"BROADCAST", "MULTICAST"}, LinkAddr: "02:00:00:00:00:01"},
			{Name: "lo", Index: 1, Type: "device", OperState: "unknown", AdminUp: true, MTU: 65536, Flags: []string{"LOOPBACK"}},
		},
		Addresses: []Address{
			{Link: "ib0", CIDR: "10.201.0.2/24", Family: "inet", Scope: "global", Flags: []string{"permanent"}},
			{Link: "lo", CIDR: "127.0.0.1/8", Family: "inet", Scope: "host", Flags: []string{"permanent"}},
		},
		Routes: []Route{
			{Family: "inet", Table: "100", Type: "unicast", Dst: "default", Gateway: "10.201.0.1", Dev: "ib0", Proto: "boot", Scope: "global"},
			{Family: "inet", Table: "main", Type: "unicast", Dst: "10.201.0.0/24", Dev: "ib0", Proto: "kernel", Scope: "link", Src: "10.201.0.2"},
		},
		Rules: []Rule{
			{Family: "inet", Priority: 0, From: "all", Action: "lookup local", SuppressPrefixlen: -1, SuppressIfgroup: -1, Proto: "kernel"},
			{Family: "inet", Priority: 1000, From: "10.201.0.0/24", Action: "lookup 100", SuppressPrefixlen: -1, SuppressIfgroup: -1, Proto: "boot"},
		},
		Netfilter: Netfilter{Rulesets: []Ruleset{{Tool: "nft", Lines: []string{
			"table ip filter", "table ip filter > chain INPUT", "table ip filter > chain INPUT: tcp dport 9 counter drop",
		}}}},
		Sysctls: map[string]string{
			"net.ipv4.conf.ib0.rp_filter": "0",
			"net.ipv4.ip_forward":         "0",
			"net.unix.max_dgram_qlen":     "10",
		},
		ResolvConf: &ResolvConf{Path: "/etc/resolv.conf", Content: "nameserver 10.200.0.1\n"},
		Listeners:  []Listener{{Proto: "tcp", Addr: "0.0.0.0", Port: 22, Inode: 100}},
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Snapshot)
		want   []string // Diff.String() lines, in order
	}{
		{name: "identical", mutate: func(*Snapshot) {}},
		{
			name:   "mtu",
			mutate: func(s *Snapshot) { s.Links[0].MTU = 4092 },
			want:   []string{"link ib0: mtu 2044 -> 4092"},
		},
		{
			name: "link down",
			mutate: func(s *Snapshot) {
				s.Links[0].AdminUp = false
				s.Links[0].OperState = "down"
			},
			want: []string{"link ib0: state up -> down", "link ib0: admin up -> down"},
		},
		{
			name:   "promiscuous",
			mutate: func(s *Snapshot) { s.Links[0].Flags = []string{"BROADCAST", "PROMISC", "MULTICAST"} },
			want:   []string{"link ib0: flags BROADCAST,MULTICAST -> BROADCAST,PROMISC,MULTICAST"},
		},
		{
			name: "address added",
			mutate: func(s *Snapshot) {
				s.Addresses = append(s.Addresses, Address{Link: "ib0", CIDR: "10.201.0.77/24", Family: "inet", Scope: "global", Flags: []string{"secondary", "permanent"}})
			},
			want: []string{"+ address 10.201.0.77/24 on ib0"},
		},
		{
			name:   "address flags",
			mutate: func(s *Snapshot) { s.Addresses[0].Flags = nil },
			want:   []string{"address 10.201.0.2/24 on ib0: flags permanent -> -"},
		},
		{
			name:   "route removed",
			mutate: func(s *Snapshot) { s.Routes = s.Routes[1:] },
			want:   []string{"- route inet table 100: default via 10.201.0.1 dev ib0 proto boot scope global metric 0"},
		},
		{
			name:   "route changed is removed and added",
			mutate: func(s *Snapshot) { s.Routes[0].Gateway = "10.201.0.254" },
			want: []string{
				"- route inet table 100: default via 10.201.0.1 dev ib0 proto boot scope global metric 0",
				"+ route inet table 100: default via 10.201.0.254 dev ib0 proto boot scope global metric 0",
			},
		},
		{
			name:   "rule deleted",
			mutate: func(s *Snapshot) { s.Rules = s.Rules[:1] },
			want:   []string{"- rule inet 1000: from 10.201.0.0/24 lookup 100 proto boot"},
		},
		{
			name: "firewall rule added",
			mutate: func(s *Snapshot) {
				s.Netfilter.Rulesets[0].Lines = append(s.Netfilter.Rulesets[0].Lines, "table ip filter > chain INPUT: tcp dport 4242 drop")
			},
			want: []string{"+ netfilter nft: table ip filter > chain INPUT: tcp dport 4242 drop"},
		},
		{
			name:   "firewall tool went missing",
			mutate: func(s *Snapshot) { s.Netfilter = Netfilter{Unavailable: "neither nft nor iptables-save was found"} },
			want: []string{
				`netfilter: unavailable "" -> neither nft nor iptables-save was found`,
				"- netfilter nft: table ip filter",
				"- netfilter nft: table ip filter > chain INPUT",
				"- netfilter nft: table ip filter > chain INPUT: tcp dport 9 counter drop",
			},
		},
		{
			name:   "sysctl",
			mutate: func(s *Snapshot) { s.Sysctls["net.ipv4.conf.ib0.rp_filter"] = "1" },
			want:   []string{"sysctl net.ipv4.conf.ib0.rp_filter: 0 -> 1"},
		},
		{
			name:   "sysctl appears",
			mutate: func(s *Snapshot) { s.Sysctls["net.ipv6.conf.all.stable_secret"] = "::1" },
			want:   []string{"+ sysctl net.ipv6.conf.all.stable_secret: ::1"},
		},
		{
			name: "a new link brings its sysctls without listing them",
			mutate: func(s *Snapshot) {
				s.Links = append(s.Links, Link{Name: "eth0.100", Index: 9, Type: "vlan", OperState: "up", AdminUp: true, MTU: 1500})
				s.Sysctls["net.ipv4.conf.eth0/100.rp_filter"] = "0"
				s.Sysctls["net.ipv6.neigh.eth0/100.mcast_solicit"] = "3"
			},
			want: []string{"+ link eth0.100: vlan index 9 mtu 1500 admin up state up"},
		},
		{
			name: "a removed link takes its sysctls",
			mutate: func(s *Snapshot) {
				s.Links = s.Links[1:]
				delete(s.Sysctls, "net.ipv4.conf.ib0.rp_filter")
			},
			want: []string{"- link ib0: veth index 3 mtu 2044 admin up state up"},
		},
		{
			name:   "resolv.conf rewritten",
			mutate: func(s *Snapshot) { s.ResolvConf.Content = "domain lan.example\nnameserver 10.200.0.53\n" },
			want: []string{
				"- resolv.conf /etc/resolv.conf: nameserver 10.200.0.1",
				"+ resolv.conf /etc/resolv.conf: domain lan.example",
				"+ resolv.conf /etc/resolv.conf: nameserver 10.200.0.53",
			},
		},
		{
			name:   "resolv.conf deleted",
			mutate: func(s *Snapshot) { s.ResolvConf.Content, s.ResolvConf.Error = "", "no such file or directory" },
			want: []string{
				`resolv.conf /etc/resolv.conf: error "" -> no such file or directory`,
				"- resolv.conf /etc/resolv.conf: nameserver 10.200.0.1",
			},
		},
		{
			name: "resolv.conf not recorded",
			mutate: func(s *Snapshot) {
				s.ResolvConf = nil
			},
			want: []string{"resolv.conf: recorded /etc/resolv.conf -> no"},
		},
		{
			name: "listener added",
			mutate: func(s *Snapshot) {
				s.Listeners = append(s.Listeners, Listener{Proto: "udp", Addr: "127.0.0.53", Port: 53, Inode: 200})
			},
			want: []string{"+ listener udp 127.0.0.53:53 inode 200"},
		},
		{
			name:   "another namespace",
			mutate: func(s *Snapshot) { s.Netns = "net:[4026532999]" },
			want:   []string{"netns: net:[4026532000] -> net:[4026532999]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, after := baseSnapshot(), baseSnapshot()
			tt.mutate(after)
			d := Compare(before, after)
			if d.Empty() != (len(tt.want) == 0) {
				t.Errorf("Empty() = %v with %d expected changes", d.Empty(), len(tt.want))
			}
			got := []string{}
			if s := d.String(); s != "" {
				got = strings.Split(s, "\n")
			}
			if !slices.Equal(got, append([]string{}, tt.want...)) {
				t.Errorf("Compare():\n%s\nwant:\n%s", d, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestCompareStructured(t *testing.T) {
	before, after := baseSnapshot(), baseSnapshot()
	after.Links[0].MTU = 4092
	after.Addresses = append(after.Addresses, Address{Link: "ib0", CIDR: "10.201.0.77/24"})
	got := Compare(before, after).Changes
	want := []Change{
		{Op: Changed, Kind: KindLink, Object: "ib0", Field: "mtu", Before: "2044", After: "4092"},
		{Op: Added, Kind: KindAddress, Object: "10.201.0.77/24 on ib0"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Compare().Changes = %+v, want %+v", got, want)
	}
}

func TestCompareNil(t *testing.T) {
	if d := Compare(nil, nil); !d.Empty() {
		t.Errorf("Compare(nil, nil) = %v, want empty", d)
	}
	d := Compare(nil, baseSnapshot())
	if d.Empty() || !strings.Contains(d.String(), "+ link ib0") {
		t.Errorf("Compare(nil, snapshot) = %q, want everything added", d)
	}
}

func TestDiffJSON(t *testing.T) {
	b, err := json.Marshal(Diff{})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"changes":[]}` {
		t.Errorf("empty Diff marshals to %s", b)
	}

	before, after := baseSnapshot(), baseSnapshot()
	after.Links[0].MTU = 4092
	after.Sysctls["net.ipv4.ip_forward"] = "1"
	after.Listeners = nil
	d := Compare(before, after)
	b, err = json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"changes":[` +
		`{"op":"changed","kind":"link","object":"ib0","field":"mtu","before":"2044","after":"4092"},` +
		`{"op":"changed","kind":"sysctl","object":"net.ipv4.ip_forward","before":"0","after":"1"},` +
		`{"op":"removed","kind":"listener","object":"tcp 0.0.0.0:22 inode 100"}]}`
	if string(b) != want {
		t.Errorf("Diff JSON =\n%s\nwant\n%s", b, want)
	}
	// The same snapshots always give the same bytes.
	for range 20 {
		again, _ := json.Marshal(Compare(before, after))
		if string(again) != want {
			t.Fatalf("Diff JSON is not stable:\n%s", again)
		}
	}
	var back Diff
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Changes, d.Changes) {
		t.Errorf("Diff JSON round trip = %+v, want %+v", back.Changes, d.Changes)
	}
}

// A snapshot kept as JSON (in the instance file) compares equal to the
// original, so the guard can compare across processes.
func TestSnapshotJSONRoundTrip(t *testing.T) {
	s := baseSnapshot()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := Compare(s, &back); !d.Empty() {
		t.Errorf("snapshot changed through JSON:\n%s", d)
	}
}
