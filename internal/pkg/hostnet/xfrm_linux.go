package hostnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The IPsec configuration (xfrm policies and states) is read with the
// netlink library's XfrmPolicyList and XfrmStateList. Two things they
// leave out are taken from the fixed header of each message, dumped a
// second time through the library's own request type (nl.NetlinkRequest):
//
//   - the address family. The library guesses it from the address bytes,
//     so an IPv6 address whose last 96 bits are zero (fd00:1::/64, say)
//     comes back as an IPv4 one and, for a prefix longer than /32,
//     without its prefix length;
//   - the header's flags (policy localok and icmp; state noecn,
//     decap-dscp, nopmtudisc, wildrecv, icmp, af-unspec, align4) and the
//     configured lifetimes of a policy.
//
// The two dumps are matched by the policy's index and by the state's
// (protocol, SPI, destination); an object that changed between them is
// rendered from the library's view alone.
//
// Nothing that moves with traffic is recorded: not the byte and packet
// counters, the current lifetimes, the replay sequence numbers, nor the
// larval states the kernel creates by itself (SPI 0, "acquire" states)
// while it asks a key manager for an SA, which expire on their own.
// Keys are secrets and are not written to the snapshot (kept in a file,
// and shown in reports): each is recorded as a SHA-256 fingerprint, which
// still changes when the key does.

// collectXfrm records the xfrm policies and states of the calling thread's
// network namespace.
func collectXfrm() (policies, states *Objects, err error) {
	if why := xfrmUnavailable(); why != "" {
		return unavailableObjects(why), unavailableObjects(why), nil
	}
	policies, err = collectXfrmPolicies()
	if err == nil {
		states, err = collectXfrmStates()
	}
	var why string
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT):
		why = "the kernel has no xfrm netlink interface"
	case errors.Is(err, unix.EPERM):
		// The xfrm dumps need CAP_NET_ADMIN; a caller without it (not
		// the guard, which runs as root) gets the rest of the snapshot.
		why = "not permitted to read the xfrm tables"
	case err != nil:
		return nil, nil, err
	default:
		return policies, states, nil
	}
	return unavailableObjects(why), unavailableObjects(why), nil
}

// xfrmUnavailable returns why the xfrm netlink interface is not looked at:
// opening a NETLINK_XFRM socket loads the xfrm_user module when it is not
// loaded yet, and the guard does not load modules on the host. A host
// without it cannot have had IPsec configured through netlink; if it gets
// loaded later, the reason goes away and the comparison says so.
func xfrmUnavailable() string {
	if _, err := os.Stat("/proc/modules"); err != nil {
		return "" // no loadable modules: built in, or the socket says it is missing
	}
	if _, err := os.Stat("/sys/module/xfrm_user"); err == nil {
		return ""
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		builtin, err := os.ReadFile("/lib/modules/" + unix.ByteSliceToString(uts.Release[:]) + "/modules.builtin")
		if err == nil && bytes.Contains(builtin, []byte("/xfrm_user.ko\n")) {
			return ""
		}
	}
	return "the xfrm_user module is not loaded (not loaded to look)"
}

// xfrmHeaders dumps the messages of an xfrm table, to read their fixed
// headers. msgType is the GET request, resType the answers' type.
func xfrmHeaders(msgType int, resType uint16) ([][]byte, error) {
	return retryDump(func() ([][]byte, error) {
		return nl.NewNetlinkRequest(msgType, unix.NLM_F_DUMP).Execute(unix.NETLINK_XFRM, resType)
	})
}

func collectXfrmPolicies() (*Objects, error) {
	list, err := retryDump(func() ([]netlink.XfrmPolicy, error) { return netlink.XfrmPolicyList(netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("failed to list xfrm policies: %w", err)
	}
	raw, err := xfrmHeaders(nl.XFRM_MSG_GETPOLICY, nl.XFRM_MSG_NEWPOLICY)
	if err != nil {
		return nil, fmt.Errorf("failed to list xfrm policies: %w", err)
	}
	headers := make(map[int]*nl.XfrmUserpolicyInfo, len(raw))
	for _, m := range raw {
		if len(m) >= nl.SizeofXfrmUserpolicyInfo {
			h := nl.DeserializeXfrmUserpolicyInfo(m)
			headers[int(h.Index)] = h
		}
	}
	entries := make([]Entry, 0, len(list))
	for _, p := range list {
		entries = append(entries, xfrmPolicyEntry(p, headers[p.Index]))
	}
	return newObjects(entries), nil
}

// xfrmPolicyEntry renders a policy much as "ip xfrm policy" does. The ID
// is what the kernel tells policies apart by (selector, direction, mark,
// interface id); the index it numbers them with is left out, so that a
// policy deleted and added back unchanged is the same. h, when known, is
// the policy's message header.
func xfrmPolicyEntry(p netlink.XfrmPolicy, h *nl.XfrmUserpolicyInfo) Entry {
	var id strings.Builder
	if h != nil && h.Index == uint32(p.Index) && h.Sel.Family != 0 {
		id.WriteString(xfrmSelector(&h.Sel, h.Sel.Family))
	} else {
		id.WriteString(xfrmSelectorOf(p))
		h = nil
	}
	id.WriteString(" " + p.Dir.String())
	if p.Mark != nil {
		fmt.Fprintf(&id, " mark 0x%x/0x%x", p.Mark.Value, p.Mark.Mask)
	}
	if p.Ifid != 0 {
		fmt.Fprintf(&id, " if_id 0x%x", p.Ifid)
	}

	var v strings.Builder
	fmt.Fprintf(&v, "priority %d action %s", p.Priority, p.Action)
	if h != nil {
		if f := xfrmFlags(h.Flags, []flagName{{1, "localok"}, {2, "icmp"}}); f != "" {
			v.WriteString(" flag " + f)
		}
		v.WriteString(xfrmLifetime(&h.Lft))
	}
	for _, t := range p.Tmpls {
		fmt.Fprintf(&v, " tmpl src %s dst %s proto %s", xfrmIP(t.Src), xfrmIP(t.Dst), t.Proto)
		if t.Spi != 0 {
			fmt.Fprintf(&v, " spi 0x%08x", uint32(t.Spi))
		}
		fmt.Fprintf(&v, " reqid %d mode %s", t.Reqid, t.Mode)
		if t.Optional != 0 {
			v.WriteString(" level use")
		}
	}
	return Entry{ID: id.String(), Value: v.String()}
}

func collectXfrmStates() (*Objects, error) {
	list, err := retryDump(func() ([]netlink.XfrmState, error) { return netlink.XfrmStateList(netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("failed to list xfrm states: %w", err)
	}
	raw, err := xfrmHeaders(nl.XFRM_MSG_GETSA, nl.XFRM_MSG_NEWSA)
	if err != nil {
		return nil, fmt.Errorf("failed to list xfrm states: %w", err)
	}
	// Several states may share a (protocol, SPI, destination) and differ
	// by mark; their headers cannot be told apart and are not used.
	headers := make(map[string]*nl.XfrmUsersaInfo, len(raw))
	ambiguous := map[string]bool{}
	for _, m := range raw {
		if len(m) < nl.SizeofXfrmUsersaInfo {
			continue
		}
		h := nl.DeserializeXfrmUsersaInfo(m)
		k := xfrmStateKey(h.Id.Proto, nl.Swap32(h.Id.Spi), h.Id.Daddr)
		if _, dup := headers[k]; dup {
			ambiguous[k] = true
		}
		headers[k] = h
	}
	entries := make([]Entry, 0, len(list))
	for _, s := range list {
		if s.Spi == 0 {
			continue // a larval "acquire" state
		}
		var daddr nl.XfrmAddress
		daddr.FromIP(s.Dst)
		k := xfrmStateKey(uint8(s.Proto), uint32(s.Spi), daddr)
		h := headers[k]
		if ambiguous[k] {
			h = nil
		}
		entries = append(entries, xfrmStateEntry(s, h))
	}
	return newObjects(entries), nil
}

func xfrmStateKey(proto uint8, spi uint32, daddr nl.XfrmAddress) string {
	return fmt.Sprintf("%d/%x/%x", proto, spi, daddr[:])
}

// xfrmStateEntry renders a state much as "ip xfrm state" does: the ID is
// the SA's identity (addresses, protocol, SPI, mark), the value its
// configuration, with keys as fingerprints. h, when known, is the state's
// message header.
func xfrmStateEntry(s netlink.XfrmState, h *nl.XfrmUsersaInfo) Entry {
	src, dst := xfrmIP(s.Src), xfrmIP(s.Dst)
	if h != nil {
		src, dst = xfrmAddr(h.Saddr, h.Family).String(), xfrmAddr(h.Id.Daddr, h.Family).String()
	}
	var id strings.Builder
	fmt.Fprintf(&id, "src %s dst %s proto %s spi 0x%08x", src, dst, s.Proto, uint32(s.Spi))
	if s.Mark != nil {
		fmt.Fprintf(&id, " mark 0x%x/0x%x", s.Mark.Value, s.Mark.Mask)
	}

	var v strings.Builder
	fmt.Fprintf(&v, "reqid %d mode %s replay-window %d", s.Reqid, s.Mode, s.ReplayWindow)
	var flags []string
	if h != nil {
		if f := xfrmFlags(h.Flags, []flagName{
			{nl.XFRM_STATE_NOECN, "noecn"}, {nl.XFRM_STATE_DECAP_DSCP, "decap-dscp"},
			{nl.XFRM_STATE_NOPMTUDISC, "nopmtudisc"}, {nl.XFRM_STATE_WILDRECV, "wildrecv"},
			{nl.XFRM_STATE_ICMP, "icmp"}, {nl.XFRM_STATE_AF_UNSPEC, "af-unspec"},
			{nl.XFRM_STATE_ALIGN4, "align4"},
		}); f != "" {
			flags = append(flags, f)
		}
	}
	if s.ESN {
		flags = append(flags, "esn")
	}
	if len(flags) > 0 {
		v.WriteString(" flag " + strings.Join(flags, ","))
	}
	if s.DontEncapDSCP {
		v.WriteString(" extra-flag dont-encap-dscp")
	}
	if s.OSeqMayWrap {
		v.WriteString(" extra-flag oseq-may-wrap")
	}
	for _, a := range []struct {
		name string
		algo *netlink.XfrmStateAlgo
	}{{"auth", s.Auth}, {"enc", s.Crypt}, {"aead", s.Aead}} {
		if a.algo == nil {
			continue
		}
		fmt.Fprintf(&v, " %s %s key %s", a.name, a.algo.Name, keyFingerprint(a.algo.Key))
		if a.algo.TruncateLen != 0 {
			fmt.Fprintf(&v, " trunc %d", a.algo.TruncateLen)
		}
		if a.algo.ICVLen != 0 {
			fmt.Fprintf(&v, " icv %d", a.algo.ICVLen)
		}
	}
	if e := s.Encap; e != nil {
		fmt.Fprintf(&v, " encap %s %d %d %s", e.Type, e.SrcPort, e.DstPort, xfrmIP(e.OriginalAddress))
	}
	if s.OutputMark != nil {
		fmt.Fprintf(&v, " output-mark 0x%x/0x%x", s.OutputMark.Value, s.OutputMark.Mask)
	}
	if s.Ifid != 0 {
		fmt.Fprintf(&v, " if_id 0x%x", s.Ifid)
	}
	switch s.SADir {
	case netlink.XFRM_SA_DIR_IN:
		v.WriteString(" dir in")
	case netlink.XFRM_SA_DIR_OUT:
		v.WriteString(" dir out")
	}
	if s.Pcpunum != nil {
		fmt.Fprintf(&v, " pcpu-num %d", *s.Pcpunum)
	}
	if h != nil {
		// A selector the key manager left empty has no family of its
		// own; ip shows it in the state's.
		family := h.Sel.Family
		if family == 0 {
			family = h.Family
		}
		v.WriteString(" sel " + xfrmSelector(&h.Sel, family))
		v.WriteString(xfrmLifetime(&h.Lft))
	} else {
		if s.Selector != nil {
			v.WriteString(" sel " + xfrmSelectorOf(*s.Selector))
		}
		v.WriteString(xfrmLimits(s.Limits))
	}
	return Entry{ID: id.String(), Value: v.String()}
}

// xfrmSelector renders a selector from a message header, in address
// family: "src 10.0.0.0/24 dst 10.1.0.0/24 proto 6 dport 22 dev if3".
func xfrmSelector(sel *nl.XfrmSelector, family uint16) string {
	s := fmt.Sprintf("src %s/%d dst %s/%d", xfrmAddr(sel.Saddr, family), sel.PrefixlenS, xfrmAddr(sel.Daddr, family), sel.PrefixlenD)
	return s + xfrmSelectorRest(int(sel.Proto), int(nl.Swap16(sel.Sport)), int(nl.Swap16(sel.Dport)), int(sel.Ifindex))
}

// xfrmSelectorOf renders a selector as the library decoded it.
func xfrmSelectorOf(p netlink.XfrmPolicy) string {
	s := fmt.Sprintf("src %s dst %s", xfrmNet(p.Src), xfrmNet(p.Dst))
	return s + xfrmSelectorRest(int(p.Proto), p.SrcPort, p.DstPort, p.Ifindex)
}

func xfrmSelectorRest(proto, sport, dport, ifindex int) string {
	var b strings.Builder
	if proto != 0 {
		fmt.Fprintf(&b, " proto %d", proto)
	}
	if sport != 0 {
		fmt.Fprintf(&b, " sport %d", sport)
	}
	if dport != 0 {
		fmt.Fprintf(&b, " dport %d", dport)
	}
	if ifindex != 0 {
		fmt.Fprintf(&b, " dev if%d", ifindex)
	}
	return b.String()
}

// xfrmAddr decodes an address of a message header in family.
func xfrmAddr(a nl.XfrmAddress, family uint16) net.IP {
	if family == unix.AF_INET {
		return net.IP(append([]byte(nil), a[:4]...))
	}
	return net.IP(append([]byte(nil), a[:]...))
}

func xfrmIP(ip net.IP) string {
	if ip == nil {
		return "-"
	}
	return ip.String()
}

func xfrmNet(n *net.IPNet) string {
	if n == nil {
		return "-"
	}
	return n.String()
}

type flagName struct {
	bit  uint8
	name string
}

func xfrmFlags(raw uint8, names []flagName) string {
	var out []string
	for _, f := range names {
		if raw&f.bit != 0 {
			out = append(out, f.name)
			raw &^= f.bit
		}
	}
	if raw != 0 {
		out = append(out, fmt.Sprintf("0x%x", raw))
	}
	return strings.Join(out, ",")
}

// xfrmInf is XFRM_INF, a byte or packet limit that is not set.
const xfrmInf = ^uint64(0)

// xfrmLifetime renders the configured lifetimes that are set.
func xfrmLifetime(l *nl.XfrmLifetimeCfg) string {
	return xfrmLimits(netlink.XfrmStateLimits{
		ByteSoft: l.SoftByteLimit, ByteHard: l.HardByteLimit,
		PacketSoft: l.SoftPacketLimit, PacketHard: l.HardPacketLimit,
		TimeSoft: l.SoftAddExpiresSeconds, TimeHard: l.HardAddExpiresSeconds,
		TimeUseSoft: l.SoftUseExpiresSeconds, TimeUseHard: l.HardUseExpiresSeconds,
	})
}

// xfrmLimits renders the limits that are set; 0 and XFRM_INF both mean
// "no limit" (iproute2 writes the one, the netlink library the other).
func xfrmLimits(l netlink.XfrmStateLimits) string {
	var b strings.Builder
	for _, lim := range []struct {
		name string
		v    uint64
	}{
		{"byte-soft", l.ByteSoft}, {"byte-hard", l.ByteHard},
		{"packet-soft", l.PacketSoft}, {"packet-hard", l.PacketHard},
		{"time-soft", l.TimeSoft}, {"time-hard", l.TimeHard},
		{"time-use-soft", l.TimeUseSoft}, {"time-use-hard", l.TimeUseHard},
	} {
		if lim.v != 0 && lim.v != xfrmInf {
			fmt.Fprintf(&b, " limit %s %d", lim.name, lim.v)
		}
	}
	return b.String()
}

// keyFingerprint stands for a key in a snapshot: the first 8 bytes of its
// SHA-256, enough to see that it changed, not to learn it.
func keyFingerprint(key []byte) string {
	if len(key) == 0 {
		return "none"
	}
	sum := sha256.Sum256(key)
	return "sha256:" + hex.EncodeToString(sum[:8])
}
