package hostnet

// Snapshot is the network state of one network namespace: everything a
// booted system could change on a host whose network it shares. Two
// snapshots of the same namespace are compared with Compare. It is plain
// data so it can be kept as JSON (in the instance file) and compared later,
// from another process.
type Snapshot struct {
	// Netns identifies the namespace the snapshot was taken in, as the
	// kernel prints it ("net:[4026531840]"). Comparing snapshots of two
	// different namespaces is a caller's mistake that Compare reports.
	Netns string `json:"netns"`
	// Links are the network interfaces, sorted by name.
	Links []Link `json:"links"`
	// Addresses are the IPv4 and IPv6 addresses of every link.
	Addresses []Address `json:"addresses"`
	// Routes are the routes of every table, IPv4 and IPv6.
	Routes []Route `json:"routes"`
	// Rules are the IPv4 and IPv6 policy routing rules, in kernel order.
	Rules []Rule `json:"rules"`
	// Netfilter is the firewall ruleset as the host's own tools print it.
	Netfilter Netfilter `json:"netfilter"`
	// Sysctls maps every readable net.* sysctl, named as sysctl(8) names
	// it, to its value with runs of blanks folded to one space. Keys that
	// change by themselves are left out (see excludedSysctls).
	Sysctls map[string]string `json:"sysctls"`
	// ResolvConf is the host's resolver configuration, when asked for.
	ResolvConf *ResolvConf `json:"resolvConf,omitempty"`
	// Listeners are the listening TCP sockets and the UDP sockets with no
	// connected peer.
	Listeners []Listener `json:"listeners"`

	// The fields below came after the guard's first release. A baseline
	// kept from before has none of them: nil means "not recorded", and
	// Compare compares only what the baseline recorded, so an old
	// baseline never shows their appearance as a change.

	// Neighbours are the configured neighbour (ARP/NDP) entries:
	// permanent, noarp added by hand, externally learned, managed and
	// proxy ones (see neigh.go for why not the kernel's cache).
	Neighbours *Objects `json:"neighbours,omitempty"`
	// XfrmPolicies and XfrmStates are the IPsec policies and security
	// associations ("ip xfrm policy", "ip xfrm state"), keys as
	// fingerprints.
	XfrmPolicies *Objects `json:"xfrmPolicies,omitempty"`
	XfrmStates   *Objects `json:"xfrmStates,omitempty"`
	// AddrLabels are the IPv6 address labels ("ip addrlabel").
	AddrLabels *Objects `json:"addrLabels,omitempty"`
	// Nexthops are the nexthop objects ("ip nexthop").
	Nexthops *Objects `json:"nexthops,omitempty"`
	// Multicast are the link-layer and IP multicast addresses of every
	// link ("ip maddr").
	Multicast *Objects `json:"multicast,omitempty"`
	// Sysfs is the recording process's /sys mount, with the flags of the
	// file system under it, which the host's /sys shares.
	Sysfs *Mount `json:"sysfs,omitempty"`
	// Kernel is the kernel.*, vm.* and fs.* sysctls and binfmt_misc, when
	// asked for (SnapshotOptions.Kernel).
	Kernel *Kernel `json:"kernel,omitempty"`
}

// ResolvConf is the content of the host's resolv.conf.
type ResolvConf struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	// Error is set instead of Content when the file could not be read
	// (typically: it does not exist), so that its appearance shows up.
	Error string `json:"error,omitempty"`
}

// SnapshotOptions tune what Take records.
type SnapshotOptions struct {
	// ResolvConf is the path of the host's resolv.conf whose content is
	// recorded; empty records nothing.
	ResolvConf string
	// PreviousNetfilter, when set, is the firewall of an earlier snapshot
	// of the same namespace; it is reused without running nft when
	// nf_tables is still at the generation it was recorded at.
	PreviousNetfilter *Netfilter
	// ListenerFilter, when set, keeps only the listening sockets whose inode
	// it returns true for. A busy host opens and closes sockets all the
	// time; the guard can restrict itself to the instance's sockets.
	ListenerFilter func(inode uint64) bool
	// Kernel also records the kernel.*, vm.* and fs.* sysctls and the
	// binfmt_misc handlers (Snapshot.Kernel). They are global: an
	// instance can change them only when it runs without a user
	// namespace, which is when the guard asks for them. They add a few
	// hundred small reads.
	Kernel bool
	// SkipFirewall, when set, says why the firewall is not recorded: the
	// snapshot's Netfilter is only that reason. An ordinary user's guard
	// may not read the firewall (nft needs CAP_NET_ADMIN), and its
	// instance, in a user namespace the user owns, may not change it.
	SkipFirewall string
}
