package hostnet

import (
	"fmt"
)

// Link is one network interface.
type Link struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	// Type is the kernel's link kind ("veth", "ipoib", "bridge", "device").
	Type string `json:"type"`
	// OperState is the RFC 2863 state ("up", "down", "lower-layer-down").
	OperState string `json:"operState"`
	// AdminUp is the IFF_UP flag: whether the link was set up.
	AdminUp bool `json:"adminUp"`
	MTU     int  `json:"mtu"`
	// Flags are the remaining interface flags (PROMISC, NOARP, ...). UP is
	// AdminUp, and RUNNING, LOWER_UP and DORMANT follow the carrier, which
	// OperState already reports.
	Flags []string `json:"flags"`
	// Master is the name of the bridge or bond the link is enslaved to.
	Master string `json:"master,omitempty"`
	// LinkAddr is the hardware address.
	LinkAddr string `json:"linkAddr,omitempty"`
	// Alias is the link's description (ifalias, "ip link set ... alias"),
	// TxQLen its transmit queue length. Both came after the guard's first
	// release: nil in an older baseline, where they were not recorded,
	// and compared only when both snapshots have them.
	Alias  *string `json:"alias,omitempty"`
	TxQLen *int    `json:"txqlen,omitempty"`
}

// Address is an IP address configured on a link.
type Address struct {
	Link string `json:"link"`
	// CIDR is the address with its prefix length, as "10.201.0.2/24".
	CIDR   string `json:"cidr"`
	Family string `json:"family"`
	Scope  string `json:"scope"`
	// Flags are the IFA_F_* flags that describe configuration (secondary,
	// permanent, nodad, ...). The DAD progress flags tentative and optimistic
	// and the lifetime flag deprecated move on their own and are left out.
	Flags     []string `json:"flags"`
	Peer      string   `json:"peer,omitempty"`
	Broadcast string   `json:"broadcast,omitempty"`
	Label     string   `json:"label,omitempty"`
}

// summary describes a link in one line for an added or removed link.
func (l Link) summary() string {
	s := fmt.Sprintf("%s index %d mtu %d admin %s state %s", l.Type, l.Index, l.MTU, upDown(l.AdminUp), l.OperState)
	if l.Master != "" {
		s += " master " + l.Master
	}
	if l.TxQLen != nil {
		s += fmt.Sprintf(" txqlen %d", *l.TxQLen)
	}
	if l.Alias != nil && *l.Alias != "" {
		s += fmt.Sprintf(" alias %q", *l.Alias)
	}
	return s
}
