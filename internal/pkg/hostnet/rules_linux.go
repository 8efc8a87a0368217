package hostnet

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// collectRules dumps the IPv4 and IPv6 rules in kernel order (by priority).
func collectRules() ([]Rule, error) {
	rules := []Rule{}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		nrules, err := retryDump(func() ([]netlink.Rule, error) { return netlink.RuleList(family) })
		if err != nil {
			return nil, fmt.Errorf("failed to list %s rules: %w", familyWord(family), err)
		}
		for _, r := range nrules {
			rules = append(rules, ruleFromNetlink(r, family))
		}
	}
	return rules, nil
}

func ruleFromNetlink(r netlink.Rule, family int) Rule {
	out := Rule{
		Family:            familyWord(family),
		Priority:          r.Priority,
		Invert:            r.Invert,
		From:              prefixOrAll(r.Src),
		TOS:               r.Tos,
		Iif:               r.IifName,
		Oif:               r.OifName,
		IPProto:           r.IPProto,
		SuppressPrefixlen: r.SuppressPrefixlen,
		SuppressIfgroup:   r.SuppressIfgroup,
		Proto:             netlink.RouteProtocol(r.Protocol).String(),
	}
	if r.Dst != nil {
		out.To = r.Dst.String()
	}
	if r.Mark != 0 || r.Mask != nil {
		mask := uint32(0xffffffff)
		if r.Mask != nil {
			mask = *r.Mask
		}
		out.FwMark = fmt.Sprintf("0x%x/0x%x", r.Mark, mask)
	}
	if r.UIDRange != nil {
		out.UIDRange = fmt.Sprintf("%d-%d", r.UIDRange.Start, r.UIDRange.End)
	}
	if r.Sport != nil {
		out.Sport = fmt.Sprintf("%d-%d", r.Sport.Start, r.Sport.End)
	}
	if r.Dport != nil {
		out.Dport = fmt.Sprintf("%d-%d", r.Dport.Start, r.Dport.End)
	}
	switch {
	case r.Goto >= 0:
		out.Action = fmt.Sprintf("goto %d", r.Goto)
	case r.Table != unix.RT_TABLE_UNSPEC:
		out.Action = "lookup " + tableName(r.Table)
	default:
		out.Action = "no lookup"
	}
	return out
}

func prefixOrAll(n *net.IPNet) string {
	if n == nil {
		return "all"
	}
	return n.String()
}
