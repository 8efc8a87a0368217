package network

import (
	"reflect"
	"testing"
)

func TestParseArgs(t *testing.T) {
	nets := []string{"bridge", "ptp"}
	tcp := func(h, c int) PortMapping { return PortMapping{HostPort: h, ContainerPort: c, Protocol: "tcp"} }
	tests := []struct {
		name     string
		networks []string
		args     []string
		want     map[string]Args
		wantErr  string
	}{
		{name: "no args", networks: nets, want: map[string]Args{}},
		{name: "no args no networks", want: map[string]Args{}},
		{
			name: "plain pair goes to the first network", networks: nets, args: []string{"IP=10.22.0.5"},
			want: map[string]Args{"bridge": {CNIArgs: [][2]string{{"IP", "10.22.0.5"}}}},
		},
		{
			name: "several pairs keep their order", networks: nets, args: []string{"B=2;A=1"},
			want: map[string]Args{"bridge": {CNIArgs: [][2]string{{"B", "2"}, {"A", "1"}}}},
		},
		{
			name: "empty value is kept", networks: nets, args: []string{"IP="},
			want: map[string]Args{"bridge": {CNIArgs: [][2]string{{"IP", ""}}}},
		},
		{
			name: "network prefix", networks: nets, args: []string{"ptp:IP=10.23.0.9"},
			want: map[string]Args{"ptp": {CNIArgs: [][2]string{{"IP", "10.23.0.9"}}}},
		},
		{
			name: "portmap without prefix keeps its colon", networks: nets, args: []string{"portmap=80:8080/tcp"},
			want: map[string]Args{"bridge": {PortMappings: []PortMapping{tcp(80, 8080)}}},
		},
		{
			name: "portmap with prefix", networks: nets, args: []string{"ptp:portmap=80:8080/udp"},
			want: map[string]Args{"ptp": {PortMappings: []PortMapping{{HostPort: 80, ContainerPort: 8080, Protocol: "udp"}}}},
		},
		{
			name: "portmap container port defaults to host port", networks: nets, args: []string{"portmap=8080/tcp"},
			want: map[string]Args{"bridge": {PortMappings: []PortMapping{tcp(8080, 8080)}}},
		},
		{
			name: "port bounds", networks: nets, args: []string{"portmap=1:65535/tcp"},
			want: map[string]Args{"bridge": {PortMappings: []PortMapping{tcp(1, 65535)}}},
		},
		{
			name: "values accumulate over args and networks", networks: nets,
			args: []string{"portmap=80/tcp;IP=10.22.0.5", "portmap=443/tcp", "ptp:ipRange=10.23.1.7/24", "ptp:X=y"},
			want: map[string]Args{
				"bridge": {CNIArgs: [][2]string{{"IP", "10.22.0.5"}}, PortMappings: []PortMapping{tcp(80, 80), tcp(443, 443)}},
				"ptp":    {CNIArgs: [][2]string{{"X", "y"}}, IPRanges: []string{"10.23.1.0/24"}},
			},
		},
		{
			name: "ipv6 range", networks: nets, args: []string{"ipRange=fd00::1/64"},
			want: map[string]Args{"bridge": {IPRanges: []string{"fd00::/64"}}},
		},
		{name: "args without networks", args: []string{"IP=1"}, wantErr: "there is no configured network in list"},
		{name: "unknown network", networks: nets, args: []string{"macvlan:IP=1"}, wantErr: "network macvlan wasn't specified in --network option"},
		{name: "empty network prefix", networks: nets, args: []string{":IP=1"}, wantErr: "network  wasn't specified in --network option"},
		{name: "colon but no equal sign", networks: nets, args: []string{"bridge:IP"}, wantErr: "invalid argument: bridge:IP"},
		{name: "no equal sign", networks: nets, args: []string{"IP"}, wantErr: "invalid argument: IP"},
		{name: "two equal signs", networks: nets, args: []string{"IP=a=b"}, wantErr: "invalid argument: IP=a=b"},
		{name: "empty key", networks: nets, args: []string{"=x"}, wantErr: "invalid argument: =x"},
		{name: "trailing semicolon", networks: nets, args: []string{"IP=1;"}, wantErr: "invalid argument: "},
		{name: "empty arg", networks: nets, args: []string{""}, wantErr: "invalid argument: "},
		{
			name: "portmap without protocol", networks: nets, args: []string{"portmap=80:8080"},
			wantErr: "badly formatted portmap argument '80:8080', must be of form portmap=hostPort:containerPort/protocol",
		},
		{name: "portmap bad protocol", networks: nets, args: []string{"portmap=80/sctp"}, wantErr: "only tcp and udp protocol can be specified"},
		{name: "portmap protocol with slash", networks: nets, args: []string{"portmap=80/tcp/x"}, wantErr: "only tcp and udp protocol can be specified"},
		{name: "portmap three ports", networks: nets, args: []string{"portmap=1:2:3/tcp"}, wantErr: "portmap port argument is badly formatted"},
		{
			name: "portmap host port not a number", networks: nets, args: []string{"portmap=http/tcp"},
			wantErr: `can't convert host port 'http': strconv.ParseUint: parsing "http": invalid syntax`,
		},
		{
			name: "portmap host port empty", networks: nets, args: []string{"portmap=:80/tcp"},
			wantErr: `can't convert host port '': strconv.ParseUint: parsing "": invalid syntax`,
		},
		{
			name: "portmap host port too big", networks: nets, args: []string{"portmap=65536:80/tcp"},
			wantErr: `can't convert host port '65536': strconv.ParseUint: parsing "65536": value out of range`,
		},
		{
			name: "portmap negative container port", networks: nets, args: []string{"portmap=80:-1/tcp"},
			wantErr: `can't convert container port '-1': strconv.ParseUint: parsing "-1": invalid syntax`,
		},
		{
			name: "portmap hex is not a number", networks: nets, args: []string{"portmap=0x50/tcp"},
			wantErr: `can't convert host port '0x50': strconv.ParseUint: parsing "0x50": invalid syntax`,
		},
		{name: "portmap host port zero", networks: nets, args: []string{"portmap=0:80/tcp"}, wantErr: "host port must be greater than 0 and less than 65535"},
		{name: "portmap container port zero", networks: nets, args: []string{"portmap=80:0/udp"}, wantErr: "container port must be greater than 0 and less than 65535"},
		{
			name: "bad ipRange", networks: nets, args: []string{"ipRange=10.22.0.1"},
			wantErr: "badly formatted ipRange argument '10.22.0.1': invalid CIDR address: 10.22.0.1",
		},
		{name: "error in a later pair", networks: nets, args: []string{"IP=1;portmap=x"}, wantErr: "badly formatted portmap argument 'x', must be of form portmap=hostPort:containerPort/protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.networks, tt.args)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseArgs() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArgs() unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseArgs() = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestCheckCapabilities(t *testing.T) {
	ports := Args{PortMappings: []PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}}}
	ranges := Args{IPRanges: []string{"10.22.0.0/24"}}
	tests := []struct {
		name     string
		declared map[string]bool
		args     Args
		wantErr  string
	}{
		{name: "nothing asked", args: Args{CNIArgs: [][2]string{{"IP", "1"}}}},
		{name: "ports declared", declared: map[string]bool{capPortMappings: true}, args: ports},
		{name: "ports not declared", declared: map[string]bool{capIPRanges: true}, args: ports, wantErr: "bridge network doesn't have portMappings capability"},
		{name: "ranges declared", declared: map[string]bool{capIPRanges: true}, args: ranges},
		{name: "ranges not declared", declared: map[string]bool{capPortMappings: true}, args: ranges, wantErr: "bridge network doesn't have ipRanges capability"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCapabilities("bridge", tt.declared, tt.args)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCapabilityArgs(t *testing.T) {
	if got := capabilityArgs(Args{CNIArgs: [][2]string{{"A", "b"}}}); len(got) != 0 {
		t.Fatalf("capabilityArgs() without capabilities = %v, want empty", got)
	}
	pm := []PortMapping{{HostPort: 80, ContainerPort: 8080, Protocol: "tcp"}}
	got := capabilityArgs(Args{PortMappings: pm, IPRanges: []string{"10.22.0.0/24", "fd00::/64"}})
	want := map[string]any{
		capPortMappings: pm,
		capIPRanges:     [][]ipRange{{{Subnet: "10.22.0.0/24"}}, {{Subnet: "fd00::/64"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("capabilityArgs() = %#v, want %#v", got, want)
	}
}
