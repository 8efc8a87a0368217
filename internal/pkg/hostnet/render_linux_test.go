package hostnet

import (
	"net"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	n.IP = ip
	return n
}

func TestRouteFromNetlink(t *testing.T) {
	names := map[int]string{1: "lo", 3: "ib0", 4: "eth0"}
	_, zero, _ := net.ParseCIDR("0.0.0.0/0")
	tests := []struct {
		name  string
		route netlink.Route
		fam   int
		want  string
	}{
		{
			name:  "default in a table, nil dst",
			route: netlink.Route{Table: 100, Type: unix.RTN_UNICAST, Gw: net.ParseIP("10.201.0.1"), LinkIndex: 3, Protocol: unix.RTPROT_BOOT},
			fam:   netlink.FAMILY_V4,
			want:  "inet table 100: default via 10.201.0.1 dev ib0 proto boot scope global metric 0",
		},
		{
			name:  "default as 0.0.0.0/0",
			route: netlink.Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: zero, Gw: net.ParseIP("10.200.0.1"), LinkIndex: 4, Protocol: unix.RTPROT_DHCP, Priority: 1024},
			fam:   netlink.FAMILY_V4,
			want:  "inet table main: default via 10.200.0.1 dev eth0 proto dhcp scope global metric 1024",
		},
		{
			name: "local route",
			route: netlink.Route{Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL, Dst: mustCIDR(t, "10.201.0.2/32"), LinkIndex: 3,
				Protocol: unix.RTPROT_KERNEL, Scope: netlink.SCOPE_HOST, Src: net.ParseIP("10.201.0.2")},
			fam:  netlink.FAMILY_V4,
			want: "inet table local: local 10.201.0.2/32 dev ib0 proto kernel scope host src 10.201.0.2 metric 0",
		},
		{
			name:  "ipv6 blackhole with mtu",
			route: netlink.Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_BLACKHOLE, Dst: mustCIDR(t, "2001:db8::/32"), LinkIndex: 1, Protocol: unix.RTPROT_STATIC, Priority: 1024, MTU: 1400},
			fam:   netlink.FAMILY_V6,
			want:  "inet6 table main: blackhole 2001:db8::/32 dev lo proto static scope global metric 1024 mtu 1400",
		},
		{
			name: "multipath with onlink and an unknown link",
			route: netlink.Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: mustCIDR(t, "10.9.0.0/16"), Protocol: unix.RTPROT_STATIC,
				Flags: unix.RTNH_F_ONLINK, MultiPath: []*netlink.NexthopInfo{
					{LinkIndex: 3, Gw: net.ParseIP("10.201.0.1")},
					{LinkIndex: 42, Hops: 1},
				}},
			fam:  netlink.FAMILY_V4,
			want: "inet table main: 10.9.0.0/16 proto static scope global metric 0 onlink nexthop via 10.201.0.1 dev ib0 weight 1 nexthop dev if42 weight 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := routeFromNetlink(tt.route, tt.fam, names).key(); got != tt.want {
				t.Errorf("route =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestRuleFromNetlink(t *testing.T) {
	mask := uint32(0xff)
	rule := func(mod func(r *netlink.Rule)) netlink.Rule {
		r := netlink.NewRule()
		r.Priority = 1000
		r.Table = 100
		mod(r)
		return *r
	}
	tests := []struct {
		name string
		rule netlink.Rule
		fam  int
		want string
	}{
		{
			name: "from a prefix",
			rule: rule(func(r *netlink.Rule) { r.Src = mustCIDR(t, "10.201.0.0/24"); r.Protocol = unix.RTPROT_BOOT }),
			fam:  netlink.FAMILY_V4,
			want: "inet 1000: from 10.201.0.0/24 lookup 100 proto boot",
		},
		{
			name: "main table with selectors",
			rule: rule(func(r *netlink.Rule) {
				r.Table = unix.RT_TABLE_MAIN
				r.Invert = true
				r.Mark, r.Mask = 0x10, &mask
				r.IifName, r.OifName = "ib0", "eth0"
				r.UIDRange = netlink.NewRuleUIDRange(1000, 1999)
				r.IPProto = unix.IPPROTO_TCP
				r.Dport = netlink.NewRulePortRange(80, 80)
				r.SuppressPrefixlen = 0
				r.Protocol = unix.RTPROT_KERNEL
			}),
			fam:  netlink.FAMILY_V6,
			want: "inet6 1000: not from all fwmark 0x10/0xff iif ib0 oif eth0 uidrange 1000-1999 ipproto 6 dport 80-80 lookup main suppress_prefixlength 0 proto kernel",
		},
		{
			name: "goto",
			rule: rule(func(r *netlink.Rule) { r.Table = 0; r.Goto = 2000; r.Dst = mustCIDR(t, "192.0.2.0/24") }),
			fam:  netlink.FAMILY_V4,
			want: "inet 1000: from all to 192.0.2.0/24 goto 2000 proto unspec",
		},
		{
			name: "an action the library does not report",
			rule: rule(func(r *netlink.Rule) { r.Table = 0 }),
			fam:  netlink.FAMILY_V4,
			want: "inet 1000: from all no lookup proto unspec",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ruleFromNetlink(tt.rule, tt.fam).String(); got != tt.want {
				t.Errorf("rule =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestLinkFromNetlink(t *testing.T) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.Index, attrs.MTU = "ib0", 3, 2044
	attrs.RawFlags = unix.IFF_UP | unix.IFF_BROADCAST | unix.IFF_RUNNING | unix.IFF_PROMISC | unix.IFF_MULTICAST | unix.IFF_LOWER_UP
	attrs.OperState = netlink.OperUp
	attrs.MasterIndex = 7
	attrs.HardwareAddr = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	attrs.Alias, attrs.TxQLen = "fabric uplink", 500
	got := linkFromNetlink(&netlink.Veth{LinkAttrs: attrs}, map[int]string{7: "br0"})
	alias, txqlen := "fabric uplink", 500
	want := Link{
		Name: "ib0", Index: 3, Type: "veth", OperState: "up", AdminUp: true, MTU: 2044,
		Flags: []string{"BROADCAST", "PROMISC", "MULTICAST"}, Master: "br0", LinkAddr: "02:00:00:00:00:01",
		Alias: &alias, TxQLen: &txqlen,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("linkFromNetlink() = %+v, want %+v", got, want)
	}
}

func TestAddressFromNetlink(t *testing.T) {
	names := map[int]string{3: "ib0"}
	tests := []struct {
		name string
		addr netlink.Addr
		keep bool
		want Address
	}{
		{
			name: "ipv4 secondary with its link's label",
			addr: netlink.Addr{IPNet: mustCIDR(t, "10.201.0.77/24"), LinkIndex: 3, Label: "ib0",
				Flags: unix.IFA_F_SECONDARY | unix.IFA_F_PERMANENT, Broadcast: net.ParseIP("10.201.0.255")},
			keep: true,
			want: Address{Link: "ib0", CIDR: "10.201.0.77/24", Family: "inet", Scope: "global",
				Flags: []string{"secondary", "permanent"}, Broadcast: "10.201.0.255"},
		},
		{
			name: "ipv4 alias label",
			addr: netlink.Addr{IPNet: mustCIDR(t, "10.201.0.78/24"), LinkIndex: 3, Label: "ib0:1", Flags: unix.IFA_F_PERMANENT},
			keep: true,
			want: Address{Link: "ib0", CIDR: "10.201.0.78/24", Family: "inet", Scope: "global", Flags: []string{"permanent"}, Label: "ib0:1"},
		},
		{
			name: "ipv6 link-local during DAD",
			addr: netlink.Addr{IPNet: mustCIDR(t, "fe80::1/64"), LinkIndex: 3, Scope: unix.RT_SCOPE_LINK,
				Flags: unix.IFA_F_PERMANENT | unix.IFA_F_TENTATIVE | unix.IFA_F_OPTIMISTIC, ValidLft: 100, PreferedLft: 50},
			keep: true,
			want: Address{Link: "ib0", CIDR: "fe80::1/64", Family: "inet6", Scope: "link", Flags: []string{"permanent"}},
		},
		{
			name: "ipv6 SLAAC address going deprecated",
			addr: netlink.Addr{IPNet: mustCIDR(t, "2001:db8::5/64"), LinkIndex: 3, Flags: unix.IFA_F_MANAGETEMPADDR | unix.IFA_F_DEPRECATED},
			keep: true,
			want: Address{Link: "ib0", CIDR: "2001:db8::5/64", Family: "inet6", Scope: "global", Flags: []string{"mngtmpaddr"}},
		},
		{
			name: "ipv6 temporary address",
			addr: netlink.Addr{IPNet: mustCIDR(t, "2001:db8::abcd/64"), LinkIndex: 3, Flags: unix.IFA_F_TEMPORARY},
			keep: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if keepAddress(tt.addr) != tt.keep {
				t.Fatalf("keepAddress() = %v, want %v", !tt.keep, tt.keep)
			}
			if !tt.keep {
				return
			}
			got := addressFromNetlink(tt.addr, names)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("addressFromNetlink() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
