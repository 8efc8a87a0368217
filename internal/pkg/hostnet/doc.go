// Package hostnet is the host-network guard of booted instances that share
// the host's network namespace (--boot-hostnet): it records the host's
// network state (links, addresses, routes, rules, neighbours, xfrm, the
// firewall, net.* sysctls, listening sockets, resolv.conf and, without a
// user namespace, the kernel's own settings) and compares two records, to
// prove that an instance did not change it. Which units are masked and
// which capabilities dropped is package policy, which makes no system call.
package hostnet
