package network

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConf(t *testing.T, dir, file, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// confList returns a minimal conflist named name whose plugins have the
// given types; a type ending in "+ports" declares portMappings.
func confList(name string, types ...string) string {
	var plugins []string
	for _, typ := range types {
		if base, ok := strings.CutSuffix(typ, "+ports"); ok {
			plugins = append(plugins, `{"type":"`+base+`","capabilities":{"portMappings":true}}`)
			continue
		}
		plugins = append(plugins, `{"type":"`+typ+`"}`)
	}
	return `{"cniVersion":"1.0.0","name":"` + name + `","plugins":[` + strings.Join(plugins, ",") + `]}`
}

func TestNewLookup(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, "00_first.conflist", confList("bridge", "bridge", "portmap+ports"))
	writeConf(t, dir, "10_other.conflist", confList("ptp", "ptp"))
	writeConf(t, dir, "20_single.conf", `{"cniVersion":"1.0.0","name":"single","type":"macvlan"}`)
	writeConf(t, dir, "30_single.json", `{"cniVersion":"1.0.0","name":"json","type":"ipvlan"}`)
	writeConf(t, dir, "40_dup.conflist", confList("bridge", "other"))
	writeConf(t, dir, "README", "not a configuration")
	if err := os.Mkdir(filepath.Join(dir, "sub.conflist"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{ConfDir: dir, PluginDirs: []string{"/nonexistent"}}

	tests := []struct {
		name      string
		networks  []string
		args      []string
		wantTypes [][]string // plugin types per network
		wantErr   string
	}{
		{name: "by name field, first file wins", networks: []string{"bridge"}, wantTypes: [][]string{{"bridge", "portmap"}}},
		{name: "request order kept", networks: []string{"ptp", "bridge"}, wantTypes: [][]string{{"ptp"}, {"bridge", "portmap"}}},
		{name: "single .conf upconverted", networks: []string{"single"}, wantTypes: [][]string{{"macvlan"}}},
		{name: "single .json upconverted", networks: []string{"json"}, wantTypes: [][]string{{"ipvlan"}}},
		{name: "same network twice", networks: []string{"ptp", "ptp"}, wantTypes: [][]string{{"ptp"}, {"ptp"}}},
		{name: "capability present", networks: []string{"bridge"}, args: []string{"portmap=80/tcp"}, wantTypes: [][]string{{"bridge", "portmap"}}},
		{name: "none", networks: []string{"none"}, args: []string{"IP=1"}, wantTypes: nil},
		{
			name: "file name is not a network name", networks: []string{"00_first"},
			wantErr: `no net configuration with name "00_first" in ` + dir + " (available: bridge, json, ptp, single)",
		},
		{
			name: "unknown network", networks: []string{"bridge", "nope"},
			wantErr: `no net configuration with name "nope" in ` + dir + " (available: bridge, json, ptp, single)",
		},
		{name: "capability missing", networks: []string{"ptp"}, args: []string{"portmap=80/tcp"}, wantErr: "ptp network doesn't have portMappings capability"},
		{name: "capability missing on second network", networks: []string{"bridge", "ptp"}, args: []string{"ptp:ipRange=10.0.0.0/8"}, wantErr: "ptp network doesn't have ipRanges capability"},
		{name: "bad args", networks: []string{"bridge"}, args: []string{"ptp:IP=1"}, wantErr: "network ptp wasn't specified in --network option"},
		{name: "none mixed", networks: []string{"bridge", "none"}, wantErr: "network none cannot be combined with other networks"},
		{name: "empty name", networks: []string{"bridge", ""}, wantErr: "empty network name in --network option"},
		{name: "nothing", networks: nil, wantErr: "no network requested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(cfg, tt.networks, tt.args)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("New() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() unexpected error: %v", err)
			}
			var got [][]string
			for _, n := range s.nets {
				var types []string
				for _, p := range n.list.Plugins {
					types = append(types, p.Network.Type)
				}
				got = append(got, types)
			}
			if !reflect.DeepEqual(got, tt.wantTypes) {
				t.Fatalf("plugin types = %v, want %v", got, tt.wantTypes)
			}
			if tt.wantTypes == nil && len(s.Networks()) != 0 {
				t.Fatalf("Networks() = %v, want none", s.Networks())
			}
		})
	}
}

func TestNewConfigErrors(t *testing.T) {
	good := t.TempDir()
	writeConf(t, good, "00_bridge.conflist", confList("bridge", "bridge"))
	bad := t.TempDir()
	writeConf(t, bad, "00_bridge.conflist", confList("bridge", "bridge"))
	writeConf(t, bad, "50_broken.conflist", `{"cniVersion":"1.0.0","name":"broken","plugins":[`)
	noType := t.TempDir()
	writeConf(t, noType, "10_x.conf", `{"cniVersion":"1.0.0","name":"x"}`)
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "missing")
	plugins := []string{"/usr/lib/cni"}

	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "no conf dir", cfg: Config{PluginDirs: plugins}, wantErr: "no CNI configuration path provided"},
		{name: "no plugin dirs", cfg: Config{ConfDir: good}, wantErr: "no CNI plugin path provided"},
		{
			name: "broken file is named", cfg: Config{ConfDir: bad, PluginDirs: plugins},
			wantErr: `failed to load network configuration "` + filepath.Join(bad, "50_broken.conflist") + `": error parsing configuration list: unexpected end of JSON input`,
		},
		{
			name: "plugin without type", cfg: Config{ConfDir: noType, PluginDirs: plugins},
			wantErr: `failed to load network configuration "` + filepath.Join(noType, "10_x.conf") + `": error parsing configuration: missing 'type'`,
		},
		{
			name: "empty directory", cfg: Config{ConfDir: empty, PluginDirs: plugins},
			wantErr: `no net configuration with name "bridge" in ` + empty + " (it holds no configuration)",
		},
		{
			name: "missing directory", cfg: Config{ConfDir: missing, PluginDirs: plugins},
			wantErr: `failed to read CNI configuration directory "` + missing + `": open ` + missing + `: no such file or directory`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, []string{"bridge"}, nil)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("New() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestAttachmentsFromSetup(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, "00.conflist", confList("bridge", "bridge", "portmap+ports"))
	writeConf(t, dir, "10.conflist", confList("ptp", "ptp"))
	s, err := New(Config{ConfDir: dir, PluginDirs: []string{"/x"}}, []string{"bridge", "ptp"}, []string{"portmap=80:8080/tcp;IP=10.22.0.9", "ptp:K=v"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Networks(); !reflect.DeepEqual(got, []string{"bridge", "ptp"}) {
		t.Fatalf("Networks() = %v", got)
	}
	atts := s.attachments("1234", "/proc/1234/ns/net")
	if len(atts) != 2 {
		t.Fatalf("got %d attachments, want 2", len(atts))
	}
	want0 := Attachment{
		Network: "bridge", IfName: "eth0", ContainerID: "1234", NetNS: "/proc/1234/ns/net",
		Args:           [][2]string{{"IgnoreUnknown", "1"}, {"IP", "10.22.0.9"}},
		CapabilityArgs: map[string]any{capPortMappings: []PortMapping{{HostPort: 80, ContainerPort: 8080, Protocol: "tcp"}}},
		Config:         s.nets[0].list.Bytes,
	}
	if !reflect.DeepEqual(atts[0], want0) {
		t.Fatalf("attachment 0 = %#v\nwant %#v", atts[0], want0)
	}
	if atts[1].IfName != "eth1" || !reflect.DeepEqual(atts[1].Args, [][2]string{{"IgnoreUnknown", "1"}, {"K", "v"}}) || len(atts[1].CapabilityArgs) != 0 {
		t.Fatalf("attachment 1 = %#v", atts[1])
	}
}
