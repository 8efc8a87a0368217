#!/bin/bash
# fakehost.sh: a throwaway "host" network to boot instances on, so that
# --boot-hostnet can be shown and measured without touching the machine's
# real network namespace.
#
#   fakehost.sh up NAME     create network namespaces NAME (the host) and NAME-lan
#   fakehost.sh down NAME   remove both and everything made for them
#   fakehost.sh snap NAME   print NAME's network state, for before/after diffs
#
# NAME gets what a cluster node typically has:
#   eth0  veth 10.200.0.2/24, mtu 1500, default route via 10.200.0.1 (lan0 in NAME-lan)
#   ib0   veth 10.201.0.2/24, mtu 2044 (an IPoIB stand-in; peer ibpeer 10.201.0.1 in NAME-lan)
#   rule  "from 10.201.0.0/24 lookup 100" with a default route via ib0 in table 100
#   nft   table inet apptainer_fakehost with one input rule (a site firewall stand-in)
#   /run/apptainer-fakehost/NAME/resolv.conf (its own resolver configuration)
# Enter it with `nsenter --net=/run/netns/NAME CMD`. `ip netns exec` would do
# too, but it remounts /sys, which hides /sys/fs/cgroup from CMD.
# Every command below runs inside NAME or NAME-lan: nothing here creates,
# changes or deletes a link, address, route, rule or sysctl of the real namespace.
set -euo pipefail

readonly STATE_ROOT=/run/apptainer-fakehost

die() { printf 'fakehost: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
}

# in_ns NS CMD...: run CMD in network namespace NS (and only there).
in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

ns_exists() { [ -e "/run/netns/$1" ]; }

check_name() {
	# The name becomes a file under /run/netns and /run/apptainer-fakehost.
	[[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]] ||
		die "invalid name \"$1\": use up to 32 letters, digits, '.', '_' or '-'"
}

up() {
	local host=$1 lan=$1-lan state=$STATE_ROOT/$1
	ns_exists "$host" && die "network namespace \"$host\" already exists (run: $0 down $host)"
	ns_exists "$lan" && die "network namespace \"$lan\" already exists (run: $0 down $host)"

	# A half-made fake host is worse than none.
	trap 'down "'"$host"'" >/dev/null 2>&1' EXIT

	ip netns add "$host"
	ip netns add "$lan"
	local ns
	for ns in "$host" "$lan"; do
		# No IPv6 duplicate address detection: addresses are final at once,
		# so a snapshot taken right after `up` is a stable baseline.
		in_ns "$ns" sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 >/dev/null
		ip -n "$ns" link set lo up
	done

	# eth0: the node's Ethernet, with the default route.
	ip -n "$host" link add eth0 type veth peer name lan0 netns "$lan"
	ip -n "$host" addr add 10.200.0.2/24 dev eth0
	ip -n "$host" link set eth0 mtu 1500 up
	ip -n "$lan" addr add 10.200.0.1/24 dev lan0
	ip -n "$lan" link set lan0 up
	ip -n "$host" route add default via 10.200.0.1

	# ib0: the kernel here has no dummy driver, so a veth plays IPoIB,
	# with IPoIB's datagram-mode MTU and source-based policy routing.
	ip -n "$host" link add ib0 type veth peer name ibpeer netns "$lan"
	ip -n "$host" addr add 10.201.0.2/24 dev ib0
	ip -n "$host" link set ib0 mtu 2044 up
	ip -n "$lan" addr add 10.201.0.1/24 dev ibpeer
	ip -n "$lan" link set ibpeer mtu 2044 up
	ip -n "$host" rule add from 10.201.0.0/24 lookup 100 pref 1000
	ip -n "$host" route add default via 10.201.0.1 dev ib0 table 100

	# A site firewall rule that a booted instance must leave alone.
	in_ns "$host" nft -f - <<'NFT'
table inet apptainer_fakehost {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 9 drop comment "fake host site rule"
	}
}
NFT

	mkdir -p "$state"
	printf 'nameserver 10.200.0.1\nsearch fakehost.test\n' >"$state/resolv.conf"

	trap - EXIT
	printf 'fake host %s is up: eth0 10.200.0.2/24, ib0 10.201.0.2/24 (mtu 2044); enter it with: nsenter --net=/run/netns/%s\n' \
		"$host" "$host"
}

down() {
	local host=$1 lan=$1-lan ns pids
	for ns in "$host" "$lan"; do
		ns_exists "$ns" || continue
		# Deleting the name does not end processes still inside; the
		# namespace lives on until they exit. Say so rather than kill
		# processes this script did not start.
		pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		[ -n "$pids" ] && printf 'fakehost: warning: processes still in %s: %s\n' "$ns" "$pids" >&2
		ip netns del "$ns"
	done
	rm -rf "${STATE_ROOT:?}/$host"
	rmdir "$STATE_ROOT" 2>/dev/null || true
	printf 'fake host %s is down\n' "$host"
}

# snap: the state a booted instance could change, in a form that is stable
# between two calls when nothing changed (no counters, lifetimes or ids).
snap() {
	local host=$1
	ns_exists "$host" || die "no network namespace \"$host\" (run: $0 up $host)"
	echo '## links'
	ip -n "$host" -o link show | sed -E 's/^[0-9]+: //; s/\\ +link\/.*//'
	echo '## addresses'
	ip -n "$host" -o addr show | awk '{ $1 = ""; print }' | sed -E 's/\\ +valid_lft.*//'
	echo '## routes'
	ip -n "$host" -4 route show table all
	ip -n "$host" -6 route show table all
	echo '## rules'
	ip -n "$host" -4 rule show
	ip -n "$host" -6 rule show
	echo '## listening sockets'
	in_ns "$host" ss -H -lntu | awk '{ print $1, $5 }' | sort
	echo '## net sysctls'
	# tcp_fastopen_key changes whenever anything uses TCP fast open.
	in_ns "$host" sysctl -a -r '^net\.' 2>/dev/null | grep -v -e tcp_fastopen_key -e nf_conntrack_count | sort
	echo '## firewall'
	in_ns "$host" nft -s list ruleset
	echo '## resolv.conf'
	cat "$STATE_ROOT/$host/resolv.conf"
}

[ "$#" -eq 2 ] || { usage >&2; exit 2; }
case "$1" in
up|down|snap) ;;
-h|--help) usage; exit 0 ;;
*) usage >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || die "must run as root (it creates network namespaces)"
check_name "$2"
"$1" "$2"
