package hostnet

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The multicast addresses of every link, as "ip maddr" shows them, come
// from three procfs tables of the namespace (the netlink library has no
// call for them, and rtnetlink has no dump of link-layer lists):
//
//   - dev_mcast: the link-layer multicast list, with whether an address
//     was added by hand ("ip maddr add", shown as static);
//   - igmp and igmp6: the IPv4 and IPv6 groups joined on each link, by
//     the kernel (all-hosts, all-nodes), by sockets (IP_ADD_MEMBERSHIP:
//     a routing daemon, mDNS, a cluster manager) or by addresses added
//     with autojoin.
//
// Recorded per link, as a set: no reference counts, users, timers,
// reporter or querier flags, which move with traffic and with the number
// of sockets in a group. Left out as well are the IPv6 solicited-node
// groups (ff02::1:ffXX:XXXX) and their link-layer forms, unless added by
// hand: the kernel joins one for every IPv6 address, which is recorded
// with the link, so they come and go with temporary (privacy) addresses
// that the snapshot does not record either.

// collectMulticast reads the multicast lists of the calling thread's
// namespace from dir (procNetDir outside of tests). A table that does not
// exist (no IPv6, no IGMP) is skipped.
func collectMulticast(dir string) (*Objects, error) {
	var entries []Entry
	for _, t := range []struct {
		file  string
		parse func(io.Reader) ([]Entry, error)
	}{{"dev_mcast", parseDevMcast}, {"igmp", parseIGMP}, {"igmp6", parseIGMP6}} {
		path := filepath.Join(dir, t.file)
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to open %q: %w", path, err)
		}
		es, err := t.parse(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("failed to read %q: %w", path, err)
		}
		entries = append(entries, es...)
	}
	return newObjects(entries), nil
}

// parseDevMcast reads dev_mcast: "3    ib0             1     1     01005e010203"
// (index, link, references, added by hand, address).
func parseDevMcast(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		raw, err := hex.DecodeString(f[4])
		if err != nil {
			return nil, fmt.Errorf("bad address %q", f[4])
		}
		static := f[3] != "0"
		if !static && solicitedNodeLinkAddr(raw) {
			continue
		}
		e := Entry{ID: "link " + net.HardwareAddr(raw).String() + " on " + f[1]}
		if static {
			e.Value = "static"
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// parseIGMP reads igmp: a line per link ("3\tib0       :     1      V3"),
// then a line per group, indented ("\t\t\t\t010000E0     1 0:00000000\t\t0"),
// the group as a 32-bit word read in host byte order.
func parseIGMP(r io.Reader) ([]Entry, error) {
	var out []Entry
	link := ""
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first { // the column header
			first = false
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("bad link line %q", line)
			}
			if ff := strings.Fields(name); len(ff) == 2 {
				link = ff[1]
			}
			continue
		}
		v, err := strconv.ParseUint(f[0], 16, 32)
		if err != nil || link == "" {
			return nil, fmt.Errorf("bad group line %q", line)
		}
		ip := make(net.IP, net.IPv4len)
		binary.NativeEndian.PutUint32(ip, uint32(v))
		out = append(out, Entry{ID: "inet " + ip.String() + " on " + link})
	}
	return out, sc.Err()
}

// parseIGMP6 reads igmp6: "3    ib0             ff020000000000000000000000000001     1 0000000C 0"
// (index, link, group, users, flags, timer).
func parseIGMP6(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		raw, err := hex.DecodeString(f[2])
		if err != nil || len(raw) != net.IPv6len {
			return nil, fmt.Errorf("bad group %q", f[2])
		}
		ip := net.IP(raw)
		if solicitedNode(ip) {
			continue
		}
		out = append(out, Entry{ID: "inet6 " + ip.String() + " on " + f[1]})
	}
	return out, sc.Err()
}

// solicitedNode reports whether ip is an IPv6 solicited-node group,
// ff02::1:ff00:0/104.
func solicitedNode(ip net.IP) bool {
	prefix := net.IP{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff}
	return len(ip) == net.IPv6len && ip[:13].Equal(prefix)
}

// solicitedNodeLinkAddr reports whether a link-layer multicast address is
// the mapping of an IPv6 solicited-node group: 33:33:ff:XX:XX:XX on
// Ethernet, and on IPoIB the 20-byte address whose GID ends like the
// group (QPN, then ff1s:601b:PKEY:0000:0000:0001:ffXX:XXXX).
func solicitedNodeLinkAddr(a []byte) bool {
	switch len(a) {
	case 6:
		return a[0] == 0x33 && a[1] == 0x33 && a[2] == 0xff
	case 20:
		return a[4] == 0xff && a[6] == 0x60 && a[7] == 0x1b &&
			string(a[10:17]) == "\x00\x00\x00\x00\x00\x01\xff"
	}
	return false
}
