package hostnet

import (
	"fmt"
	"net"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// collectRoutes dumps the IPv4 and IPv6 routes of every table. Each family
// is asked for on its own: an AF_UNSPEC dump would also bring multicast
// forwarding cache entries, which are traffic state, not configuration.
// Cached (cloned) routes and PMTU exceptions are not part of the dump.
// names maps link indexes to names, from collectLinks.
func collectRoutes(names map[int]string) ([]Route, error) {
	var routes []Route
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		all := &netlink.Route{Table: unix.RT_TABLE_UNSPEC}
		nroutes, err := retryDump(func() ([]netlink.Route, error) {
			return netlink.RouteListFiltered(family, all, netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			return nil, fmt.Errorf("failed to list %s routes: %w", familyWord(family), err)
		}
		for _, r := range nroutes {
			routes = append(routes, routeFromNetlink(r, family, names))
		}
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].key() < routes[j].key() })
	if routes == nil {
		routes = []Route{}
	}
	return routes, nil
}

func routeFromNetlink(r netlink.Route, family int, names map[int]string) Route {
	out := Route{
		Family: familyWord(family),
		Table:  tableName(r.Table),
		Type:   routeTypeName(r.Type),
		Dst:    dstString(r.Dst),
		Proto:  r.Protocol.String(),
		Scope:  scopeName(int(r.Scope)),
		Metric: r.Priority,
		TOS:    r.Tos,
		MTU:    r.MTU,
		OnLink: r.Flags&unix.RTNH_F_ONLINK != 0,
	}
	if r.Gw != nil {
		out.Gateway = r.Gw.String()
	}
	if r.LinkIndex != 0 {
		out.Dev = linkName(names, r.LinkIndex)
	}
	if r.Src != nil {
		out.Src = r.Src.String()
	}
	for _, nh := range r.MultiPath {
		hop := fmt.Sprintf("dev %s weight %d", linkName(names, nh.LinkIndex), nh.Hops+1)
		if nh.Gw != nil {
			hop = "via " + nh.Gw.String() + " " + hop
		}
		out.Nexthops = append(out.Nexthops, hop)
	}
	return out
}

func dstString(dst *net.IPNet) string {
	if dst == nil {
		return "default"
	}
	if ones, _ := dst.Mask.Size(); ones == 0 && dst.IP.IsUnspecified() {
		return "default"
	}
	return dst.String()
}

func familyWord(family int) string {
	if family == netlink.FAMILY_V6 {
		return "inet6"
	}
	return "inet"
}

// tableName names a routing table as ip(8) does for the reserved ones.
func tableName(t int) string {
	switch t {
	case unix.RT_TABLE_MAIN:
		return "main"
	case unix.RT_TABLE_LOCAL:
		return "local"
	case unix.RT_TABLE_DEFAULT:
		return "default"
	}
	return fmt.Sprint(t)
}

var routeTypeNames = map[int]string{
	unix.RTN_UNSPEC:      "none",
	unix.RTN_UNICAST:     "unicast",
	unix.RTN_LOCAL:       "local",
	unix.RTN_BROADCAST:   "broadcast",
	unix.RTN_ANYCAST:     "anycast",
	unix.RTN_MULTICAST:   "multicast",
	unix.RTN_BLACKHOLE:   "blackhole",
	unix.RTN_UNREACHABLE: "unreachable",
	unix.RTN_PROHIBIT:    "prohibit",
	unix.RTN_THROW:       "throw",
	unix.RTN_NAT:         "nat",
	unix.RTN_XRESOLVE:    "xresolve",
}

func routeTypeName(t int) string {
	if n, ok := routeTypeNames[t]; ok {
		return n
	}
	return fmt.Sprint(t)
}
