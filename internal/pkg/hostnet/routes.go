package hostnet

import (
	"fmt"
	"strings"
)

// Route is one route of any routing table.
type Route struct {
	Family string `json:"family"`
	// Table is "main", "local", "default" or the table number.
	Table string `json:"table"`
	// Type is the route type ("unicast", "local", "broadcast",
	// "blackhole", ...).
	Type string `json:"type"`
	// Dst is the destination prefix, or "default".
	Dst     string `json:"dst"`
	Gateway string `json:"gateway,omitempty"`
	Dev     string `json:"dev,omitempty"`
	Proto   string `json:"proto"`
	Scope   string `json:"scope"`
	// Src is the preferred source address.
	Src    string `json:"src,omitempty"`
	Metric int    `json:"metric"`
	TOS    int    `json:"tos,omitempty"`
	// MTU is the route's MTU metric (as set from a DHCP option, say).
	MTU int `json:"mtu,omitempty"`
	// OnLink is the onlink flag: the gateway is on the link whatever the
	// addresses say.
	OnLink bool `json:"onlink,omitempty"`
	// Nexthops are the paths of a multipath route.
	Nexthops []string `json:"nexthops,omitempty"`
}

// String renders a route much as "ip route show table all" does, without
// the table, which key adds.
func (r Route) String() string {
	var b strings.Builder
	if r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	b.WriteString(r.Dst)
	if r.TOS != 0 {
		fmt.Fprintf(&b, " tos 0x%x", r.TOS)
	}
	if r.Gateway != "" {
		b.WriteString(" via " + r.Gateway)
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	fmt.Fprintf(&b, " proto %s scope %s", r.Proto, r.Scope)
	if r.Src != "" {
		b.WriteString(" src " + r.Src)
	}
	fmt.Fprintf(&b, " metric %d", r.Metric)
	if r.MTU != 0 {
		fmt.Fprintf(&b, " mtu %d", r.MTU)
	}
	if r.OnLink {
		b.WriteString(" onlink")
	}
	for _, nh := range r.Nexthops {
		b.WriteString(" nexthop " + nh)
	}
	return b.String()
}

// where names the table a route lives in: "inet table main".
func (r Route) where() string {
	return r.Family + " table " + r.Table
}

// key identifies a route: two routes with the same key are the same route.
func (r Route) key() string {
	return r.where() + ": " + r.String()
}
