package hostnet

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// procSysNet holds the calling thread's network namespace's sysctls: the
// kernel resolves /proc/sys/net through the reading task's namespace.
const procSysNet = "/proc/sys/net"

// excludedSysctls are keys whose value changes without anyone configuring
// anything, so that comparing them would report noise. The first two were
// seen to change in a fresh namespace with nothing but loopback traffic;
// the others exist only in the initial namespace and change when the kernel
// does something for itself.
var excludedSysctls = map[string]string{
	// Zero until the first TCP Fast Open connection, then a random key the
	// kernel generates (0 -> a key after one TFO connect on loopback).
	"net.ipv4.tcp_fastopen_key": "generated on first TCP Fast Open use",
	// Read-only count of tracked connections (0 -> 21 after 21 loopback
	// datagrams with a conntrack rule loaded).
	"net.netfilter.nf_conntrack_count": "live connection count",
	// Read-only lists that grow when the kernel loads a congestion control
	// or upper-layer protocol module on demand; they are not settings.
	"net.ipv4.tcp_available_congestion_control": "grows when a module loads",
	"net.ipv4.tcp_available_ulp":                "grows when a module loads",
	// Read-only; filled with random bytes the first time a multi-queue
	// driver asks for the RSS key.
	"net.core.netdev_rss_key": "filled when a driver first needs it",
}

// readSysctls reads every net.* sysctl under root (procSysNet outside of
// tests) and returns them keyed as sysctl(8) names them. Files that cannot
// be read are skipped: write-only ones (route.flush), ones the kernel
// refuses to print (stable_secret before it is set: EIO) and ones that
// vanish while walking (a link deleted meanwhile).
func readSysctls(root string) (map[string]string, error) {
	values := make(map[string]string)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			// An unreadable or vanished directory below root: skip it.
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		key := sysctlKey(rel)
		if _, skip := excludedSysctls[key]; skip {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		values[key] = strings.Join(strings.Fields(string(b)), " ")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read sysctls under %q: %w", root, err)
	}
	return values, nil
}

// sysctlKey turns a path relative to /proc/sys/net into the sysctl(8) key:
// "ipv4/conf/eth0.100/rp_filter" -> "net.ipv4.conf.eth0/100.rp_filter". Dots
// inside a component (VLAN links) become slashes, as sysctl(8) shows them.
func sysctlKey(rel string) string {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, ".", "/")
	}
	return "net." + strings.Join(parts, ".")
}

// sysctlLink returns the link a per-link key belongs to, for the keys the
// kernel creates and deletes together with the link:
// net.<proto>.conf.<link>.* and net.<proto>.neigh.<link>.*.
func sysctlLink(key string) (string, bool) {
	parts := strings.Split(key, ".")
	if len(parts) < 5 || parts[0] != "net" || (parts[2] != "conf" && parts[2] != "neigh") {
		return "", false
	}
	link := parts[3]
	if link == "all" || link == "default" {
		return "", false
	}
	return strings.ReplaceAll(link, "/", "."), true
}
