package hostnet

import (
	"fmt"
	"strings"
)

// Rule is one policy routing rule ("ip rule").
type Rule struct {
	Family   string `json:"family"`
	Priority int    `json:"priority"`
	Invert   bool   `json:"not,omitempty"`
	From     string `json:"from"`
	To       string `json:"to,omitempty"`
	TOS      uint   `json:"tos,omitempty"`
	// FwMark is "mark/mask" in hex, as ip(8) prints it.
	FwMark   string `json:"fwmark,omitempty"`
	Iif      string `json:"iif,omitempty"`
	Oif      string `json:"oif,omitempty"`
	UIDRange string `json:"uidrange,omitempty"`
	IPProto  int    `json:"ipproto,omitempty"`
	Sport    string `json:"sport,omitempty"`
	Dport    string `json:"dport,omitempty"`
	// Action is "lookup <table>" or "goto <priority>". The netlink library
	// does not report the other actions (blackhole, unreachable, prohibit,
	// nop); a rule with one of them is recorded as "no lookup". It is still
	// recorded, so adding or removing one is seen.
	Action            string `json:"action"`
	SuppressPrefixlen int    `json:"suppressPrefixlen"`
	SuppressIfgroup   int    `json:"suppressIfgroup"`
	// Proto is who installed the rule ("kernel", "boot", "static", ...).
	Proto string `json:"proto"`
}

// String renders a rule as "ip rule" does, with the family in front:
// "inet 1000: from 10.201.0.0/24 lookup 100 proto boot".
func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d:", r.Family, r.Priority)
	if r.Invert {
		b.WriteString(" not")
	}
	b.WriteString(" from " + r.From)
	add := func(name, v string) {
		if v != "" {
			b.WriteString(" " + name + " " + v)
		}
	}
	add("to", r.To)
	if r.TOS != 0 {
		add("tos", fmt.Sprintf("0x%x", r.TOS))
	}
	add("fwmark", r.FwMark)
	add("iif", r.Iif)
	add("oif", r.Oif)
	add("uidrange", r.UIDRange)
	if r.IPProto != 0 {
		add("ipproto", fmt.Sprint(r.IPProto))
	}
	add("sport", r.Sport)
	add("dport", r.Dport)
	b.WriteString(" " + r.Action)
	if r.SuppressPrefixlen >= 0 {
		add("suppress_prefixlength", fmt.Sprint(r.SuppressPrefixlen))
	}
	if r.SuppressIfgroup >= 0 {
		add("suppress_ifgroup", fmt.Sprint(r.SuppressIfgroup))
	}
	add("proto", r.Proto)
	return b.String()
}
