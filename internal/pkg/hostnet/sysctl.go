package hostnet

import (
	"path/filepath"
	"strings"
)

// sysctlKey turns a path relative to /proc/sys/net into the sysctl(8) key:
// "ipv4/conf/eth0.100/rp_filter" -> "net.ipv4.conf.eth0/100.rp_filter". Dots
// inside a component (VLAN links) become slashes, as sysctl(8) shows them.
func sysctlKey(rel string) string { return sysctlKeyIn("net", rel) }

// sysctlKeyIn is sysctlKey for the tree whose keys start with name
// ("net", "kernel", "vm", "fs").
func sysctlKeyIn(name, rel string) string {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, ".", "/")
	}
	return name + "." + strings.Join(parts, ".")
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
