package network

import (
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzParseArgs feeds --network values (comma-separated) and --network-args
// values (one per line) to ParseArgs and checks what it accepts.
func FuzzParseArgs(f *testing.F) {
	f.Add("bridge", "portmap=80:8080/tcp")
	f.Add("bridge,ptp", "ptp:IP=10.23.0.5;X=y\nipRange=10.22.1.0/24")
	f.Fuzz(func(t *testing.T, networks, args string) {
		nets := strings.Split(networks, ",")
		list := strings.Split(args, "\n")
		got, err := ParseArgs(nets, list)
		if err != nil {
			return
		}
		again, err := ParseArgs(nets, list)
		if err != nil || !reflect.DeepEqual(got, again) {
			t.Fatalf("ParseArgs is not deterministic: %v / %v (%v)", got, again, err)
		}
		for name, a := range got {
			if !slices.Contains(nets, name) {
				t.Fatalf("arguments for network %q that was not requested", name)
			}
			for _, kv := range a.CNIArgs {
				if kv[0] == "" || strings.ContainsAny(kv[0], "=;") || strings.ContainsAny(kv[1], "=;") {
					t.Fatalf("CNI_ARGS pair %q would not round-trip", kv)
				}
				if kv[0] == "portmap" || kv[0] == "ipRange" {
					t.Fatalf("capability key %q passed through as CNI_ARGS", kv[0])
				}
			}
			for _, pm := range a.PortMappings {
				if pm.HostPort < 1 || pm.HostPort > 65535 || pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
					t.Fatalf("port out of range: %+v", pm)
				}
				if pm.Protocol != "tcp" && pm.Protocol != "udp" {
					t.Fatalf("bad protocol: %+v", pm)
				}
			}
			for _, r := range a.IPRanges {
				_, n, err := net.ParseCIDR(r)
				if err != nil || n.String() != r {
					t.Fatalf("ipRange %q is not a canonical CIDR (%v)", r, err)
				}
			}
		}
	})
}
