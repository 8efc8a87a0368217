package hostnet

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
)

// Which neighbour (ARP/NDP) entries are recorded.
//
// Most entries of a neighbour table are the kernel's own cache: it creates
// one for every peer it talks to, moves it through reachable, stale, delay
// and probe as traffic and timers go, and drops it again. Recording them
// (even as a bare set of link, address and hardware address, ignoring the
// state) would report every new peer and every expiry as a change. What an
// administrator, or a booted system, configures instead is:
//
//   - permanent entries ("ip neigh add ... lladdr ..."; nud permanent is
//     ip's default), which the kernel never changes or expires: recorded
//     with their hardware address and flags;
//   - noarp entries added by hand ("nud noarp"). The kernel makes noarp
//     entries by itself too, for multicast and broadcast destinations and
//     on links that do no resolution (NOARP or LOOPBACK flag, or no
//     hardware address); those are left out, the others recorded;
//   - entries added as externally learned (extern_learn, by a routing
//     daemon or controller) or as managed (the kernel keeps them
//     resolved): recorded as being there, without their state, hardware
//     address or router flag, which protocol traffic may still update;
//   - proxy entries ("ip neigh add proxy ..."), a table of their own.
//
// The entries of the bridge forwarding database (AF_BRIDGE) are not
// neighbour entries and are not dumped.

// collectNeighbours lists the recorded neighbour entries of the calling
// thread's namespace. links and routes are the snapshot's (from
// collectLinks and collectRoutes): they tell which noarp entries the
// kernel made by itself.
func collectNeighbours(links []Link, routes []Route) (*Objects, error) {
	byIndex := make(map[int]Link, len(links))
	for _, l := range links {
		byIndex[l.Index] = l
	}
	broadcast := localBroadcasts(routes)

	neighs, err := retryDump(func() ([]netlink.Neigh, error) { return netlink.NeighList(0, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("failed to list neighbour entries: %w", err)
	}
	proxies, err := retryDump(func() ([]netlink.Neigh, error) { return netlink.NeighProxyList(0, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("failed to list proxy neighbour entries: %w", err)
	}
	var entries []Entry
	for _, n := range neighs {
		if e, ok := neighbourEntry(n, byIndex, broadcast); ok {
			entries = append(entries, e)
		}
	}
	for _, n := range proxies {
		entries = append(entries, proxyEntry(n, byIndex))
	}
	return newObjects(entries), nil
}

// neighbourEntry renders n, and reports whether it is recorded at all
// (see above).
func neighbourEntry(n netlink.Neigh, links map[int]Link, broadcast map[string]bool) (Entry, bool) {
	if n.IP == nil {
		return Entry{}, false
	}
	link := neighLink(n.LinkIndex, links)
	id := n.IP.String() + " on " + link
	var flags []string
	if n.Flags&netlink.NTF_EXT_LEARNED != 0 {
		flags = append(flags, "extern_learn")
	}
	if n.FlagsExt&netlink.NTF_EXT_MANAGED != 0 {
		flags = append(flags, "managed")
	}
	switch {
	case len(flags) > 0:
		return Entry{ID: id, Value: strings.Join(flags, " ")}, true
	case n.State&netlink.NUD_PERMANENT != 0:
		return Entry{ID: id, Value: neighValue(n, "permanent")}, true
	case n.State&netlink.NUD_NOARP != 0 && !kernelNoarp(n.IP, links[n.LinkIndex], broadcast):
		return Entry{ID: id, Value: neighValue(n, "noarp")}, true
	}
	return Entry{}, false
}

// neighValue renders a permanent or noarp entry: "lladdr 02:00:00:00:00:09
// permanent router".
func neighValue(n netlink.Neigh, state string) string {
	var parts []string
	if len(n.HardwareAddr) > 0 {
		parts = append(parts, "lladdr "+n.HardwareAddr.String())
	} else if n.LLIPAddr != nil {
		parts = append(parts, "lladdr "+n.LLIPAddr.String())
	}
	parts = append(parts, state)
	if n.Flags&netlink.NTF_ROUTER != 0 {
		parts = append(parts, "router")
	}
	return strings.Join(parts, " ")
}

// proxyEntry renders a proxy entry: "proxy 10.201.0.9 on ib0".
func proxyEntry(n netlink.Neigh, links map[int]Link) Entry {
	e := Entry{ID: "proxy " + n.IP.String() + " on " + neighLink(n.LinkIndex, links)}
	if n.Flags&netlink.NTF_ROUTER != 0 {
		e.Value = "router"
	}
	return e
}

func neighLink(index int, links map[int]Link) string {
	if index == 0 {
		return "any"
	}
	if l, ok := links[index]; ok {
		return l.Name
	}
	return fmt.Sprintf("if%d", index)
}

// kernelNoarp reports whether the kernel itself would have made a noarp
// entry for ip on link: multicast and broadcast destinations, and every
// destination on a link that does no address resolution (the kernel's
// arp_constructor and ndisc_constructor).
func kernelNoarp(ip net.IP, link Link, broadcast map[string]bool) bool {
	if ip.IsMulticast() || slices.Contains(link.Flags, "NOARP") || slices.Contains(link.Flags, "LOOPBACK") || link.LinkAddr == "" {
		return true
	}
	if v4 := ip.To4(); v4 != nil {
		// inet_addr_type: 0.0.0.0/8 and 255.255.255.255 are broadcast,
		// and so is every address with a broadcast route in the local
		// table (subnet broadcasts, the network address).
		return v4[0] == 0 || v4.Equal(net.IPv4bcast) || broadcast[v4.String()]
	}
	return false
}

// localBroadcasts returns the destinations of the local table's broadcast
// routes.
func localBroadcasts(routes []Route) map[string]bool {
	out := map[string]bool{}
	for _, r := range routes {
		if r.Family == "inet" && r.Table == "local" && r.Type == "broadcast" {
			out[strings.TrimSuffix(r.Dst, "/32")] = true
		}
	}
	return out
}
