package network

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Capability names a CNI plugin declares in its "capabilities" map before
// libcni hands it the matching runtimeConfig entry.
const (
	capPortMappings = "portMappings"
	capIPRanges     = "ipRanges"
)

// Args is what --network-args asked for one network.
type Args struct {
	// CNIArgs are the plain KEY=VAL pairs, in the order given. They reach
	// the plugins as CNI_ARGS, after IgnoreUnknown=1.
	CNIArgs [][2]string
	// PortMappings come from portmap=hostPort[:containerPort]/protocol and
	// are handed to plugins declaring the portMappings capability.
	PortMappings []PortMapping
	// IPRanges come from ipRange=<CIDR>, canonicalised to the network
	// address. Each one asks the IPAM plugin for one address from it.
	IPRanges []string
}

// PortMapping is one entry of the portMappings capability, in the JSON shape
// the portmap plugin reads.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

// ipRange is one entry of a host-local range set (ipRanges capability).
type ipRange struct {
	Subnet string `json:"subnet"`
}

// ParseArgs reads --network-args values for the networks named by --network,
// in upstream Apptainer's syntax:
//
//	[<network>:]KEY=VAL;KEY2=VAL2
//
// Without a prefix, or when the first ':' comes after the first '=' (so that
// "portmap=80:8080/tcp" needs no prefix), the value belongs to the first
// network. The keys portmap and ipRange become capability arguments; every
// other key is passed through as a CNI_ARGS pair. The result is keyed by
// network name; networks without arguments are absent.
//
// Unlike upstream, ports are read in base 10 only (upstream also accepted
// "0x50" and octal), and every ipRange is kept instead of only the first.
func ParseArgs(networks []string, args []string) (map[string]Args, error) {
	out := make(map[string]Args)
	if len(args) == 0 {
		return out, nil
	}
	if len(networks) == 0 {
		return nil, errors.New("there is no configured network in list")
	}
	for _, arg := range args {
		name, pairs := splitNetworkPrefix(arg, networks[0])
		if !slices.Contains(networks, name) {
			return nil, fmt.Errorf("network %s wasn't specified in --network option", name)
		}
		a := out[name]
		for _, pair := range strings.Split(pairs, ";") {
			key, value, err := splitPair(pair)
			if err != nil {
				return nil, err
			}
			switch key {
			case "portmap":
				pm, err := parsePortMap(value)
				if err != nil {
					return nil, err
				}
				a.PortMappings = append(a.PortMappings, pm)
			case "ipRange":
				_, subnet, err := net.ParseCIDR(value)
				if err != nil {
					return nil, fmt.Errorf("badly formatted ipRange argument '%s': %w", value, err)
				}
				a.IPRanges = append(a.IPRanges, subnet.String())
			default:
				a.CNIArgs = append(a.CNIArgs, [2]string{key, value})
			}
		}
		out[name] = a
	}
	return out, nil
}

// splitNetworkPrefix separates an optional "<network>:" prefix. A ':' that
// comes after the first '=' belongs to a value, not to a prefix.
func splitNetworkPrefix(arg, first string) (network, pairs string) {
	colon := strings.IndexByte(arg, ':')
	if colon < 0 || colon > strings.IndexByte(arg, '=') {
		return first, arg
	}
	return arg[:colon], arg[colon+1:]
}

// splitPair reads one KEY=VAL. Values may not hold '=' (CNI_ARGS could not
// carry them unambiguously) and keys may not be empty.
func splitPair(pair string) (key, value string, err error) {
	kv := strings.Split(pair, "=")
	if len(kv) != 2 || kv[0] == "" {
		return "", "", fmt.Errorf("invalid argument: %s", pair)
	}
	return kv[0], kv[1], nil
}

// parsePortMap reads hostPort[:containerPort]/protocol; a missing
// containerPort equals hostPort.
func parsePortMap(value string) (PortMapping, error) {
	ports, proto, ok := strings.Cut(value, "/")
	if !ok {
		return PortMapping{}, fmt.Errorf("badly formatted portmap argument '%s', must be of form portmap=hostPort:containerPort/protocol", value)
	}
	if proto != "tcp" && proto != "udp" {
		return PortMapping{}, errors.New("only tcp and udp protocol can be specified")
	}
	parts := strings.Split(ports, ":")
	if len(parts) > 2 {
		return PortMapping{}, errors.New("portmap port argument is badly formatted")
	}
	host, err := parsePort("host", parts[0])
	if err != nil {
		return PortMapping{}, err
	}
	container := host
	if len(parts) == 2 {
		if container, err = parsePort("container", parts[1]); err != nil {
			return PortMapping{}, err
		}
	}
	return PortMapping{HostPort: host, ContainerPort: container, Protocol: proto}, nil
}

// parsePort reads a port number; which is "host" or "container" and only
// appears in messages.
func parsePort(which, s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("can't convert %s port '%s': %w", which, s, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%s port must be greater than 0 and less than 65535", which)
	}
	return int(n), nil
}

// checkCapabilities refuses capability arguments that no plugin of the
// network would receive: libcni silently drops them, so the user would get
// no port mapping and no error.
func checkCapabilities(network string, declared map[string]bool, a Args) error {
	if len(a.PortMappings) > 0 && !declared[capPortMappings] {
		return fmt.Errorf("%s network doesn't have %s capability", network, capPortMappings)
	}
	if len(a.IPRanges) > 0 && !declared[capIPRanges] {
		return fmt.Errorf("%s network doesn't have %s capability", network, capIPRanges)
	}
	return nil
}

// capabilityArgs builds the runtime capability arguments of one network.
func capabilityArgs(a Args) map[string]any {
	caps := make(map[string]any)
	if len(a.PortMappings) > 0 {
		caps[capPortMappings] = a.PortMappings
	}
	if len(a.IPRanges) > 0 {
		// host-local takes a list of range sets and allocates one address
		// per set, so each requested range is its own set.
		sets := make([][]ipRange, 0, len(a.IPRanges))
		for _, r := range a.IPRanges {
			sets = append(sets, []ipRange{{Subnet: r}})
		}
		caps[capIPRanges] = sets
	}
	return caps
}
