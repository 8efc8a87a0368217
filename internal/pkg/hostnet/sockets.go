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
	"sort"
	"strconv"
	"strings"
)

// procNetDir holds the socket tables of the calling thread's network
// namespace. /proc/net would follow the thread-group leader instead.
const procNetDir = "/proc/thread-self/net"

// Listener is a socket waiting for peers: a TCP socket in LISTEN state or a
// UDP socket with no connected peer. resolved's DNS stub (127.0.0.53:53)
// and LLMNR (:5355) show up here when a booted system starts them.
type Listener struct {
	// Proto is the table the socket came from: tcp, tcp6, udp or udp6.
	Proto string `json:"proto"`
	Addr  string `json:"addr"`
	Port  int    `json:"port"`
	Inode uint64 `json:"inode"`
}

// String renders "tcp 127.0.0.53:53 inode 12345".
func (l Listener) String() string {
	return fmt.Sprintf("%s %s inode %d", l.Proto, net.JoinHostPort(l.Addr, strconv.Itoa(l.Port)), l.Inode)
}

// tcpListen is TCP_LISTEN in the "st" column.
const tcpListen = "0A"

// collectListeners reads the tcp, tcp6, udp and udp6 tables under dir
// (procNetDir outside of tests). keep, when not nil, selects sockets by
// inode. A table that does not exist (IPv6 disabled) is skipped.
func collectListeners(dir string, keep func(inode uint64) bool) ([]Listener, error) {
	all := []Listener{}
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		path := filepath.Join(dir, proto)
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to open socket table %q: %w", path, err)
		}
		ls, err := parseSocketTable(f, proto)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("failed to read socket table %q: %w", path, err)
		}
		for _, l := range ls {
			if keep == nil || keep(l.Inode) {
				all = append(all, l)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].String() < all[j].String() })
	return all, nil
}

// parseSocketTable reads one /proc/net/{tcp,tcp6,udp,udp6} table and
// returns its listening sockets.
func parseSocketTable(r io.Reader, proto string) ([]Listener, error) {
	isTCP := strings.HasPrefix(proto, "tcp")
	var out []Listener
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // the column header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		local, remote, state := f[1], f[2], f[3]
		if isTCP && state != tcpListen {
			continue
		}
		if !isTCP && !unconnected(remote) {
			continue
		}
		ip, port, err := parseHexEndpoint(local)
		if err != nil {
			return nil, fmt.Errorf("bad local address %q: %w", local, err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad inode %q: %w", f[9], err)
		}
		out = append(out, Listener{Proto: proto, Addr: ip.String(), Port: port, Inode: inode})
	}
	return out, sc.Err()
}

// unconnected reports whether a remote endpoint is all zeros, port 0.
func unconnected(remote string) bool {
	return strings.Trim(remote, "0:") == ""
}

// parseHexEndpoint decodes "0100007F:0035" (127.0.0.1:53): the kernel
// prints the address as 32-bit words read in host byte order, and the port
// as a number.
func parseHexEndpoint(s string) (net.IP, int, error) {
	addrHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, errors.New("no port")
	}
	raw, err := hex.DecodeString(addrHex)
	if err != nil || (len(raw) != net.IPv4len && len(raw) != net.IPv6len) {
		return nil, 0, fmt.Errorf("bad address %q", addrHex)
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("bad port %q", portHex)
	}
	return ip, int(port), nil
}
