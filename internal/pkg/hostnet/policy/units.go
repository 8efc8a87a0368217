// Package policy is the pure part of the --boot-hostnet safeguards: which
// systemd units are kept from starting (and why), how a site and a user
// change that list, and which capabilities are dropped. It makes no system
// call, so the launcher's decisions build and are tested anywhere; the
// guard that proves the host's network was not changed is package hostnet.
package policy

// maskedUnits are the units masked (systemd.mask= on init's command line) when
// an instance boots on the host network. Each one configures links,
// addresses, routes, DNS, sysctls, the firewall, the clock or RDMA devices of
// whatever network namespace it runs in; on a shared namespace that is the
// host's. The list is the single source of truth: etc/network-overrides is
// generated from it and checked against it.
var maskedUnits = []struct {
	Unit string
	Why  string
}{
	{"systemd-networkd.service", "configures addresses, routes and MTU of every matching link"},
	{"systemd-networkd.socket", "socket-activates systemd-networkd"},
	{"systemd-networkd-wait-online.service", "waits for systemd-networkd"},
	{"systemd-resolved.service", "binds DNS stub and LLMNR listeners in the host network"},
	{"NetworkManager.service", "manages the host's links, addresses, routes and DNS"},
	{"NetworkManager-wait-online.service", "waits for NetworkManager"},
	{"NetworkManager-dispatcher.service", "runs hooks on host link events"},
	{"networking.service", "ifupdown: ifup -a on boot and ifdown -a (flushing addresses) on stop"},
	{"ifup@.service", "ifupdown: brings single links up"},
	{"ifupdown-pre.service", "ifupdown: waits for udev before networking"},
	{"ifupdown-wait-online.service", "ifupdown: waits for links"},
	{"dhcpcd.service", "DHCP client that rewrites addresses, routes and resolv.conf"},
	{"wpa_supplicant.service", "takes over wireless links"},
	{"ModemManager.service", "takes over modem links"},
	{"systemd-udevd.service", "renames links and runs rules against host devices"},
	{"systemd-udevd-control.socket", "socket-activates systemd-udevd"},
	{"systemd-udevd-kernel.socket", "socket-activates systemd-udevd"},
	{"systemd-udev-trigger.service", "replays uevents for every host device"},
	{"systemd-udev-settle.service", "waits for systemd-udevd"},
	{"systemd-sysctl.service", "writes sysctl.d settings, net.* included"},
	{"firewalld.service", "replaces the host's netfilter ruleset"},
	{"nftables.service", "loads (and on stop flushes) the netfilter ruleset"},
	{"iptables.service", "loads the iptables ruleset"},
	{"ip6tables.service", "loads the ip6tables ruleset"},
	{"ebtables.service", "loads the ebtables ruleset"},
	{"ipset.service", "loads ipsets"},
	{"netfilter-persistent.service", "restores saved netfilter rules"},
	{"ufw.service", "rewrites the netfilter ruleset"},
	{"systemd-timesyncd.service", "sets the host clock"},
	{"chronyd.service", "sets the host clock"},
	{"chrony.service", "sets the host clock"},
	{"ntpd.service", "sets the host clock"},
	{"ntp.service", "sets the host clock"},
	{"ntpsec.service", "sets the host clock"},
	{"rdma-ndd.service", "rewrites the InfiniBand node description"},
	{"rdma-load-modules@.service", "loads RDMA kernel modules"},
	{"rdma.service", "loads and configures the RDMA stack"},
	{"opensm.service", "runs an InfiniBand subnet manager on the host's ports"},
	{"ibacm.service", "InfiniBand address resolution daemon"},
	{"srp_daemon.service", "logs in to SRP targets over the host's ports"},
	{"iwpmd.service", "iWARP port mapper"},
	{"openibd.service", "reloads the InfiniBand driver stack"},
	{"avahi-daemon.service", "mDNS responder on the host's links"},
	{"avahi-daemon.socket", "socket-activates avahi-daemon"},
}

// DefaultMaskedUnits returns the built-in list of units masked for
// --boot-hostnet, in a stable order.
func DefaultMaskedUnits() []string {
	out := make([]string, len(maskedUnits))
	for i, u := range maskedUnits {
		out[i] = u.Unit
	}
	return out
}

// MaskReason says why a built-in unit is masked, or "" for a unit not on the
// built-in list.
func MaskReason(unit string) string {
	for _, u := range maskedUnits {
		if u.Unit == unit {
			return u.Why
		}
	}
	return ""
}

// DroppedCapabilities are removed from every capability set of a booted
// instance on the host network unless the user keeps them (--keep-privs) or
// names them in --add-caps: without CAP_NET_ADMIN no link, address, route,
// rule or firewall change is possible; without CAP_NET_RAW no raw DHCP or
// packet capture on host links; CAP_SYS_MODULE and CAP_SYS_TIME would let
// the container change the host's kernel and clock. Each call returns a
// new slice: the list itself cannot be changed by a caller.
func DroppedCapabilities() []string {
	return []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_MODULE", "CAP_SYS_TIME"}
}
