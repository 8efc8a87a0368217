package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestIntegrationBridgePortmap(t *testing.T) {
	requireThrowawayHost(t)
	cfg, ipam := shippedConfig(t, nil)
	fakeUplink(t, "fakehost0", "10.200.0.2/24")
	ns := startContainer(t)
	if err := CheckNetnsPath(ns); err != nil {
		t.Fatalf("CheckNetnsPath(%s) = %v", ns, err)
	}

	s, res, err := attach(t, cfg, []string{"bridge"}, []string{"portmap=18080:8080/tcp"}, "itest-bridge", ns)
	if err != nil {
		t.Fatalf("Add() error: %v", err)
	}
	addrs := containerAddrs(t, ns, "eth0")
	if len(addrs) != 1 || !inSubnet(t, addrs[0], "10.22.0.0/16") || !strings.HasPrefix(addrs[0], res.IP+"/") {
		t.Fatalf("container eth0 has %v, result IP %q; want one address in 10.22.0.0/16", addrs, res.IP)
	}
	if got := res.Attachments[0].IPs; len(got) != 1 || got[0] != addrs[0] {
		t.Fatalf("result IPs %v, container has %v", got, addrs)
	}
	left := hostLeftovers(t, cfg, ipam)
	for _, want := range []string{"link veth", "nat chain CNI-DN-", "nat rule -A POSTROUTING -s " + res.IP + "/32", "filter rule -A CNI-FORWARD", "lease "} {
		if !containsPrefix(left, want) {
			t.Errorf("after ADD, no %q in host state %q", want, left)
		}
	}

	for _, addr := range []string{
		net.JoinHostPort(res.IP, "8080"), // routed through sbr0
		"10.200.0.2:18080",               // the host's address, DNAT by portmap
		"127.0.0.1:18080",                // localhost, needs portmap's snat
	} {
		if got, err := greet(addr); err != nil || got != helperGreeting {
			t.Errorf("connecting to %s: got %q, %v", addr, got, err)
		}
	}

	if err := s.Del(context.Background(), "itest-bridge", ns); err != nil {
		t.Fatalf("Del() error: %v", err)
	}
	if left := hostLeftovers(t, cfg, ipam); len(left) != 0 {
		t.Fatalf("left behind after DEL: %q", left)
	}
	if a := containerAddrs(t, ns, "eth0"); a != nil {
		t.Fatalf("container still has eth0: %v", a)
	}
	if _, err := greet("10.200.0.2:18080"); err == nil {
		t.Fatal("port 18080 still forwarded after DEL")
	}
}

func TestIntegrationTwoNetworks(t *testing.T) {
	requireThrowawayHost(t)
	cfg, ipam := shippedConfig(t, nil)
	ns := startContainer(t)
	s, res, err := attach(t, cfg, []string{"bridge", "ptp"}, []string{"IP=10.22.0.77", "ptp:IP=10.23.0.77"}, "itest-two", ns)
	if err != nil {
		t.Fatalf("Add() error: %v", err)
	}
	if res.IP != "10.22.0.77" {
		t.Fatalf("result IP = %q, want the first network's 10.22.0.77", res.IP)
	}
	for ifName, want := range map[string]string{"eth0": "10.22.0.77/16", "eth1": "10.23.0.77/16"} {
		if got := containerAddrs(t, ns, ifName); len(got) != 1 || got[0] != want {
			t.Errorf("container %s has %v, want %s", ifName, got, want)
		}
	}
	if got, err := greet("10.23.0.77:8080"); err != nil || got != helperGreeting {
		t.Errorf("connecting through ptp: got %q, %v", got, err)
	}
	if err := s.Del(context.Background(), "itest-two", ns); err != nil {
		t.Fatalf("Del() error: %v", err)
	}
	if left := hostLeftovers(t, cfg, ipam); len(left) != 0 {
		t.Fatalf("left behind after DEL: %q", left)
	}
}

func TestIntegrationDetachWithoutCache(t *testing.T) {
	requireThrowawayHost(t)
	cfg, ipam := shippedConfig(t, nil)
	ns := startContainer(t)
	_, res, err := attach(t, cfg, []string{"bridge"}, []string{"portmap=18083:8080/tcp"}, "itest-nocache", ns)
	if err != nil {
		t.Fatalf("Add() error: %v", err)
	}
	saved, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	// Another process detaches, with libcni's cache gone and the
	// configuration directory emptied.
	if err := os.RemoveAll(filepath.Join(cfg.CacheDir, "results")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(cfg.ConfDir); err != nil {
		t.Fatal(err)
	}
	var loaded Result
	if err := json.Unmarshal(saved, &loaded); err != nil {
		t.Fatal(err)
	}
	if err := Detach(context.Background(), cfg, loaded.Attachments); err != nil {
		t.Fatalf("Detach() error: %v", err)
	}
	if left := hostLeftovers(t, cfg, ipam); len(left) != 0 {
		t.Fatalf("left behind after Detach: %q", left)
	}
}

func TestIntegrationStaticUplink(t *testing.T) {
	requireThrowawayHost(t)
	// The shipped ipvlan and macvlan networks hang off "eth0": a veth of
	// that name in the throwaway namespace stands in for it.
	fakeUplink(t, "eth0", "")
	for _, network := range []string{"macvlan", "ipvlan"} {
		t.Run(network, func(t *testing.T) {
			if err := probeLink(network, "eth0"); err != nil {
				t.Skipf("this kernel cannot make %s links: %v", network, err)
			}
			cfg, ipam := shippedConfig(t, nil)
			ns := startContainer(t)
			s, _, err := attach(t, cfg, []string{network}, nil, "itest-"+network, ns)
			if err != nil {
				t.Fatalf("Add() error: %v", err)
			}
			if got := containerAddrs(t, ns, "eth0"); len(got) != 1 || got[0] != "192.168.1.1/24" {
				t.Fatalf("container eth0 has %v, want 192.168.1.1/24", got)
			}
			if err := s.Del(context.Background(), "itest-"+network, ns); err != nil {
				t.Fatalf("Del() error: %v", err)
			}
			if got := containerAddrs(t, ns, "eth0"); got != nil {
				t.Fatalf("container still has eth0: %v", got)
			}
			if left := hostLeftovers(t, cfg, ipam); len(left) != 0 {
				t.Fatalf("left behind after DEL: %q", left)
			}
		})
	}
}

func TestIntegrationFailedAddLeavesNothing(t *testing.T) {
	requireThrowawayHost(t)
	extra := map[string]string{
		// portmap has made its chain by the time the missing plugin
		// is looked up.
		"50_broken_plugin.conflist": brokenBridge(t, "broken-plugin", func(p []any) []any {
			return append(p, map[string]any{"type": "nosuchplugin"})
		}),
		"51_broken_ipam.conflist": brokenBridge(t, "broken-ipam", func(p []any) []any {
			p[0].(map[string]any)["ipam"].(map[string]any)["ranges"] = []any{[]any{map[string]any{"subnet": "10.22.0.0/33"}}}
			return p
		}),
	}
	tests := []struct {
		networks []string
		args     []string
		failing  string
		wantMsg  string
	}{
		{[]string{"broken-plugin"}, []string{"portmap=18081:8080/tcp"}, "broken-plugin", `plugin type="nosuchplugin" failed (add): failed to find plugin "nosuchplugin"`},
		{[]string{"broken-ipam"}, nil, "broken-ipam", `plugin type="bridge" failed (add): invalid CIDR address: 10.22.0.0/33`},
		{[]string{"bridge", "broken-plugin"}, []string{"bridge:portmap=18082:8080/tcp"}, "broken-plugin", `failed to find plugin "nosuchplugin"`},
	}
	for i, tt := range tests {
		t.Run(strings.Join(tt.networks, "+"), func(t *testing.T) {
			cfg, ipam := shippedConfig(t, extra)
			ns := startContainer(t)
			_, res, err := attach(t, cfg, tt.networks, tt.args, fmt.Sprintf("itest-broken%d", i), ns)
			var ae *AddError
			if !errors.As(err, &ae) || res != nil {
				t.Fatalf("Add() = %v, %v; want an *AddError", res, err)
			}
			if ae.Network != tt.failing || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Add() error = %q (network %q), want %q from %s", err, ae.Network, tt.wantMsg, tt.failing)
			}
			if ae.Cleanup != nil {
				t.Logf("cleanup reported (expected after a failed ADD): %v", ae.Cleanup)
			}
			if left := hostLeftovers(t, cfg, ipam); len(left) != 0 {
				t.Fatalf("left behind after a failed ADD: %q", left)
			}
			for _, ifName := range []string{"eth0", "eth1"} {
				if got := containerAddrs(t, ns, ifName); got != nil {
					t.Fatalf("container still has %s: %v", ifName, got)
				}
			}
		})
	}
}

// probeLink says whether the kernel can add a link of kind on parent
// (ipvlan is a module some kernels lack), by adding and removing one.
func probeLink(kind, parent string) error {
	p, err := netlink.LinkByName(parent)
	if err != nil {
		return err
	}
	attrs := netlink.LinkAttrs{Name: "probe" + kind, ParentIndex: p.Attrs().Index}
	var link netlink.Link = &netlink.Macvlan{LinkAttrs: attrs, Mode: netlink.MACVLAN_MODE_BRIDGE}
	if kind == "ipvlan" {
		link = &netlink.IPVlan{LinkAttrs: attrs, Mode: netlink.IPVLAN_MODE_L2}
	}
	if err := netlink.LinkAdd(link); err != nil {
		return err
	}
	return netlink.LinkDel(link)
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
