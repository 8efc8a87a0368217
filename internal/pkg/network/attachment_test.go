package network

import (
	"net"
	"reflect"
	"testing"

	types100 "github.com/containernetworking/cni/pkg/types/100"
)

func ipConfig(t *testing.T, cidr string, iface *int) *types100.IPConfig {
	t.Helper()
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	n.IP = ip
	return &types100.IPConfig{Address: *n, Interface: iface}
}

func TestAddresses(t *testing.T) {
	idx := func(i int) *int { return &i }
	res := &types100.Result{
		CNIVersion: "1.0.0",
		Interfaces: []*types100.Interface{
			{Name: "sbr0", Mac: "00:00:00:00:00:01"},
			{Name: "veth1234", Mac: "00:00:00:00:00:02"},
			{Name: "eth0", Mac: "00:00:00:00:00:03", Sandbox: "/proc/42/ns/net"},
		},
	}
	res.IPs = []*types100.IPConfig{
		ipConfig(t, "10.22.0.1/16", idx(0)), // gateway on the host bridge
		ipConfig(t, "10.22.0.5/16", idx(2)),
		ipConfig(t, "fd00::5/64", idx(2)),
		ipConfig(t, "10.99.0.5/24", nil),    // an IPAM-only result
		ipConfig(t, "10.98.0.5/24", idx(7)), // index out of range: not trusted
	}
	ips, mac, err := addresses(res, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.22.0.5/16", "fd00::5/64", "10.99.0.5/24"}; !reflect.DeepEqual(ips, want) {
		t.Fatalf("addresses() ips = %v, want %v", ips, want)
	}
	if mac != "00:00:00:00:00:03" {
		t.Fatalf("addresses() mac = %q", mac)
	}
	if _, mac, _ := addresses(res, "eth1"); mac != "" {
		t.Fatalf("addresses() mac for a missing interface = %q, want empty", mac)
	}
}

func TestFirstIP(t *testing.T) {
	tests := []struct {
		cidrs []string
		want  string
	}{
		{nil, ""},
		{[]string{"10.22.0.5/16"}, "10.22.0.5"},
		{[]string{"fd00::5/64", "fd00::6/64", "10.22.0.5/16", "10.22.0.6/16"}, "10.22.0.5"},
		{[]string{"fd00::5/64", "fd00::6/64"}, "fd00::5"},
		{[]string{"garbage", "fd00::5/64"}, "fd00::5"},
	}
	for _, tt := range tests {
		if got := firstIP(tt.cidrs); got != tt.want {
			t.Errorf("firstIP(%v) = %q, want %q", tt.cidrs, got, tt.want)
		}
	}
}
