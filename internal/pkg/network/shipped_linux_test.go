package network

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestShippedConfigurations pins etc/network: the names, plugin chains,
// subnets and capabilities users and upstream documentation rely on.
func TestShippedConfigurations(t *testing.T) {
	const dir = "../../../etc/network"
	lists, err := loadNetworks(dir)
	if err != nil {
		t.Fatal(err)
	}
	type ipam struct {
		Type   string `json:"type"`
		Ranges [][]struct {
			Subnet string `json:"subnet"`
		} `json:"ranges"`
		Addresses []struct {
			Address string `json:"address"`
			Gateway string `json:"gateway"`
		} `json:"addresses"`
		Routes []struct {
			Dst string `json:"dst"`
		} `json:"routes"`
	}
	type plugin struct {
		Type         string          `json:"type"`
		Bridge       string          `json:"bridge"`
		Master       string          `json:"master"`
		IsGateway    bool            `json:"isGateway"`
		IPMasq       bool            `json:"ipMasq"`
		Backend      string          `json:"backend"`
		SNAT         *bool           `json:"snat"`
		Capabilities map[string]bool `json:"capabilities"`
		IPAM         *ipam           `json:"ipam"`
	}
	summary := func(p plugin) []string {
		s := []string{p.Type}
		if p.IPAM != nil {
			s = append(s, p.IPAM.Type)
			for _, set := range p.IPAM.Ranges {
				for _, r := range set {
					s = append(s, r.Subnet)
				}
			}
			for _, a := range p.IPAM.Addresses {
				s = append(s, a.Address, "gw "+a.Gateway)
			}
			for _, r := range p.IPAM.Routes {
				s = append(s, "route "+r.Dst)
			}
		}
		return s
	}
	want := map[string][][]string{
		"bridge":   {{"bridge", "host-local", "10.22.0.0/16", "route 0.0.0.0/0"}, {"firewall"}, {"portmap"}},
		"ptp":      {{"ptp", "host-local", "10.23.0.0/16", "route 0.0.0.0/0"}, {"firewall"}, {"portmap"}},
		"fakeroot": {{"ptp", "host-local", "10.23.0.0/16", "route 0.0.0.0/0"}, {"firewall"}, {"portmap"}},
		"ipvlan":   {{"ipvlan", "static", "192.168.1.1/24", "gw 192.168.1.254", "route 0.0.0.0/0"}},
		"macvlan":  {{"macvlan", "static", "192.168.1.1/24", "gw 192.168.1.254", "route 0.0.0.0/0"}},
	}
	files := map[string]string{
		"bridge": "00_bridge.conflist", "ptp": "10_ptp.conflist", "ipvlan": "20_ipvlan.conflist",
		"macvlan": "30_macvlan.conflist", "fakeroot": "40_fakeroot.conflist",
	}
	if len(lists) != len(want) {
		t.Fatalf("%d shipped networks, want %d", len(lists), len(want))
	}
	for _, l := range lists {
		if l.CNIVersion != "1.0.0" {
			t.Errorf("%s: cniVersion %q, want 1.0.0", l.Name, l.CNIVersion)
		}
		if _, err := os.Stat(filepath.Join(dir, files[l.Name])); err != nil {
			t.Errorf("%s: not in %s: %v", l.Name, files[l.Name], err)
		}
		var got [][]string
		for _, p := range l.Plugins {
			var pl plugin
			if err := json.Unmarshal(p.Bytes, &pl); err != nil {
				t.Fatal(err)
			}
			got = append(got, summary(pl))
			switch pl.Type {
			case "bridge":
				if pl.Bridge != "sbr0" || !pl.IsGateway || !pl.IPMasq {
					t.Errorf("%s: bridge plugin %+v, want sbr0, isGateway and ipMasq", l.Name, pl)
				}
			case "ptp":
				if !pl.IPMasq {
					t.Errorf("%s: ptp without ipMasq", l.Name)
				}
			case "ipvlan", "macvlan":
				if pl.Master != "eth0" {
					t.Errorf("%s: master %q, want eth0", l.Name, pl.Master)
				}
			case "firewall":
				if pl.Backend != "iptables" {
					t.Errorf("%s: firewall backend %q, want iptables", l.Name, pl.Backend)
				}
			case "portmap":
				if !pl.Capabilities[capPortMappings] || pl.SNAT == nil || !*pl.SNAT {
					t.Errorf("%s: portmap %+v, want portMappings and snat", l.Name, pl)
				}
			}
		}
		if !reflect.DeepEqual(got, want[l.Name]) {
			t.Errorf("%s: plugins %v, want %v", l.Name, got, want[l.Name])
		}
	}

	// The Debian plugins accept every configuration (VERSION only: this
	// changes nothing on the host).
	if _, err := os.Stat(filepath.Join(pluginDir, "bridge")); err != nil {
		t.Skipf("CNI plugins not installed in %s", pluginDir)
	}
	cni := Config{PluginDirs: []string{pluginDir}}.cni(&pluginExec{})
	for _, l := range lists {
		if _, err := cni.ValidateNetworkList(context.Background(), l); err != nil {
			t.Errorf("%s: %v", l.Name, err)
		}
	}
}
