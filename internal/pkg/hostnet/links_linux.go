package hostnet

import (
	"fmt"
	"net"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkFlagNames names the IFF_* bits recorded in Link.Flags.
var linkFlagNames = []struct {
	bit  uint32
	name string
}{
	{unix.IFF_BROADCAST, "BROADCAST"},
	{unix.IFF_DEBUG, "DEBUG"},
	{unix.IFF_LOOPBACK, "LOOPBACK"},
	{unix.IFF_POINTOPOINT, "POINTOPOINT"},
	{unix.IFF_NOTRAILERS, "NOTRAILERS"},
	{unix.IFF_NOARP, "NOARP"},
	{unix.IFF_PROMISC, "PROMISC"},
	{unix.IFF_ALLMULTI, "ALLMULTI"},
	{unix.IFF_MASTER, "MASTER"},
	{unix.IFF_SLAVE, "SLAVE"},
	{unix.IFF_MULTICAST, "MULTICAST"},
	{unix.IFF_PORTSEL, "PORTSEL"},
	{unix.IFF_AUTOMEDIA, "AUTOMEDIA"},
	{unix.IFF_DYNAMIC, "DYNAMIC"},
	{unix.IFF_ECHO, "ECHO"},
}

// addrFlagNames names the IFA_F_* bits recorded in Address.Flags. Bit 0x01
// is "secondary" for IPv4 and "temporary" for IPv6; temporary addresses are
// not recorded at all (see keepAddress).
var addrFlagNames = []struct {
	bit  int
	name string
}{
	{unix.IFA_F_NODAD, "nodad"},
	{unix.IFA_F_DADFAILED, "dadfailed"},
	{unix.IFA_F_HOMEADDRESS, "home"},
	{unix.IFA_F_PERMANENT, "permanent"},
	{unix.IFA_F_MANAGETEMPADDR, "mngtmpaddr"},
	{unix.IFA_F_NOPREFIXROUTE, "noprefixroute"},
	{unix.IFA_F_MCAUTOJOIN, "autojoin"},
	{unix.IFA_F_STABLE_PRIVACY, "stable-privacy"},
}

// collectLinks lists the links and addresses of the calling thread's
// namespace, and returns the link names by index for the routes.
func collectLinks() ([]Link, []Address, map[int]string, error) {
	nlinks, err := retryDump(netlink.LinkList)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("failed to list links: %w", err)
	}
	names := make(map[int]string, len(nlinks))
	for _, l := range nlinks {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	links := make([]Link, 0, len(nlinks))
	for _, l := range nlinks {
		links = append(links, linkFromNetlink(l, names))
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Name < links[j].Name })

	naddrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, nil, nil, fmt.Errorf("failed to list addresses: %w", err)
	}
	addrs := make([]Address, 0, len(naddrs))
	for _, a := range naddrs {
		if keepAddress(a) {
			addrs = append(addrs, addressFromNetlink(a, names))
		}
	}
	sort.Slice(addrs, func(i, j int) bool {
		if addrs[i].Link != addrs[j].Link {
			return addrs[i].Link < addrs[j].Link
		}
		return addrs[i].CIDR < addrs[j].CIDR
	})
	return links, addrs, names, nil
}

func linkFromNetlink(l netlink.Link, names map[int]string) Link {
	a := l.Attrs()
	out := Link{
		Name:      a.Name,
		Index:     a.Index,
		Type:      l.Type(),
		OperState: a.OperState.String(),
		AdminUp:   a.RawFlags&unix.IFF_UP != 0,
		MTU:       a.MTU,
		Flags:     linkFlags(a.RawFlags),
	}
	if a.MasterIndex != 0 {
		out.Master = linkName(names, a.MasterIndex)
	}
	if len(a.HardwareAddr) > 0 {
		out.LinkAddr = a.HardwareAddr.String()
	}
	alias, txqlen := a.Alias, a.TxQLen
	out.Alias, out.TxQLen = &alias, &txqlen
	return out
}

func linkFlags(raw uint32) []string {
	flags := []string{}
	for _, f := range linkFlagNames {
		if raw&f.bit != 0 {
			flags = append(flags, f.name)
		}
	}
	return flags
}

// keepAddress leaves out IPv6 temporary (privacy) addresses: the kernel
// creates and retires them on a timer, so they would show up as changes on
// any host that uses them. Whether they are used at all is the use_tempaddr
// sysctl, which is recorded.
func keepAddress(a netlink.Addr) bool {
	return !(a.IP.To4() == nil && a.Flags&unix.IFA_F_TEMPORARY != 0)
}

func addressFromNetlink(a netlink.Addr, names map[int]string) Address {
	out := Address{
		Link:   linkName(names, a.LinkIndex),
		CIDR:   a.IPNet.String(),
		Family: familyName(a.IP),
		Scope:  scopeName(a.Scope),
		Flags:  addrFlags(a.IP, a.Flags),
		Label:  a.Label,
	}
	if a.Peer != nil {
		out.Peer = a.Peer.String()
	}
	if a.Broadcast != nil {
		out.Broadcast = a.Broadcast.String()
	}
	// The kernel labels every IPv4 address with its link's name; only a
	// different label (an alias such as "eth0:1") carries information.
	if out.Label == out.Link {
		out.Label = ""
	}
	return out
}

func addrFlags(ip net.IP, raw int) []string {
	flags := []string{}
	if ip.To4() != nil && raw&unix.IFA_F_SECONDARY != 0 {
		flags = append(flags, "secondary")
	}
	for _, f := range addrFlagNames {
		if raw&f.bit != 0 {
			flags = append(flags, f.name)
		}
	}
	return flags
}

func linkName(names map[int]string, index int) string {
	if n, ok := names[index]; ok {
		return n
	}
	return fmt.Sprintf("if%d", index)
}

func familyName(ip net.IP) string {
	if ip.To4() != nil {
		return "inet"
	}
	return "inet6"
}

// scopeName names an address or route scope as ip(8) does.
func scopeName(scope int) string {
	switch scope {
	case unix.RT_SCOPE_UNIVERSE:
		return "global"
	case unix.RT_SCOPE_SITE:
		return "site"
	case unix.RT_SCOPE_LINK:
		return "link"
	case unix.RT_SCOPE_HOST:
		return "host"
	case unix.RT_SCOPE_NOWHERE:
		return "nowhere"
	}
	return fmt.Sprint(scope)
}
