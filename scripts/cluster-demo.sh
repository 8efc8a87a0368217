#!/bin/bash
# cluster-demo.sh: a three-node Slurm cluster whose daemons run in
# `instance start --boot --boot-hostnet` instances of examples/slurm/slurm.def,
# on fake nodes: network namespaces, never the machine's real network.
#
#   cluster-demo.sh [run]   up, then srun/sinfo/drain checks, then down
#                           (make cluster-demo; down also runs on failure
#                           and on Ctrl-C)
#   cluster-demo.sh up      make the cluster and leave it running
#   cluster-demo.sh down    remove what `up` made: instances, namespaces,
#                           links, files; then check that nothing is left
#
# The fake cluster (PREFIX defaults to slurmdemo):
#   PREFIX-lan    bridges "lan" (Ethernet, mtu 1500) and "fabric" (an IPoIB
#                 stand-in, mtu 2044) that every node is plugged into
#   PREFIX-head   eth0 10.210.0.10/24, ib0 10.211.0.10/24; instance "head":
#                 munged and slurmctld
#   PREFIX-node1  eth0 10.210.0.11/24, ib0 10.211.0.11/24; instance "node1":
#                 munged and slurmd (node2: .12, the same)
# Each instance gets --hostname NODE and, read-only, the generated /etc/hosts,
# slurm.conf (from examples/slurm/slurm.conf.in) and the cluster's munge key,
# owned by the image's munge user. Files live in /run/apptainer-cluster-demo/PREFIX.
#
# Environment: APPTAINER (binary; default: builddir/apptainer),
# CLUSTER_DEMO_IMAGE (a SIF of examples/slurm/slurm.def; default: build it,
# or reuse the cached one, with scripts/e2e-example.sh), CLUSTER_DEMO_PREFIX
# (name prefix of the namespaces; default slurmdemo), CLUSTER_DEMO_TIMEOUT
# (seconds to wait for the nodes to reach a state; default 120).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SELF=$REPO/scripts/$(basename "$0")
readonly REPO SELF
# Out of the source tree: a container started from a directory it cannot
# see warns that it cannot chdir there.
cd /
readonly PREFIX=${CLUSTER_DEMO_PREFIX:-slurmdemo}
readonly STATE=/run/apptainer-cluster-demo/$PREFIX
readonly TIMEOUT=${CLUSTER_DEMO_TIMEOUT:-120}
readonly NODES=(head node1 node2)
readonly COMPUTE="node[1-2]"
readonly ETH_NET=10.210.0 IB_NET=10.211.0 IB_MTU=2044

step() { printf '\n==> [%3ds] %s\n' "$SECONDS" "$*"; }
die() { printf 'cluster-demo: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$SELF"
}

# host_octet NODE: the last byte of NODE's addresses (head .10, node1 .11...).
host_octet() {
	local i
	for i in "${!NODES[@]}"; do
		[ "${NODES[$i]}" = "$1" ] && { echo $((10 + i)); return; }
	done
	die "unknown node $1"
}

# in_node NODE CMD...: run CMD in NODE's network namespace only. `ip netns
# exec` would also remount /sys, hiding /sys/fs/cgroup, which a boot needs.
in_node() {
	local node=$1
	shift
	nsenter --net="/run/netns/$PREFIX-$node" -- "$@"
}

# in_head CMD...: run CMD inside the head node's instance (as its root).
in_head() { "$APPTAINER" exec instance://head "$@"; }

resolve_binary() {
	APPTAINER=${APPTAINER:-$REPO/builddir/apptainer}
	[ -x "$APPTAINER" ] || die "no apptainer binary at $APPTAINER (run make, or set APPTAINER)"
}

resolve_image() {
	if [ -n "${CLUSTER_DEMO_IMAGE:-}" ]; then
		IMAGE=$CLUSTER_DEMO_IMAGE
	else
		step "Building (or reusing) the Slurm node image"
		IMAGE=$("$REPO/scripts/e2e-example.sh" "$APPTAINER" examples/slurm/slurm.def | tail -n 1)
	fi
	[ -e "$IMAGE" ] || die "no image at $IMAGE"
	echo "image: $IMAGE"
}

check_settings() {
	# The prefix becomes namespace and file names; link names stay short.
	[[ "$PREFIX" =~ ^[a-z][a-z0-9]{0,15}$ ]] ||
		die "invalid CLUSTER_DEMO_PREFIX \"${PREFIX//[^[:print:]]/?}\": use up to 16 lower-case letters and digits, starting with a letter"
	[[ "$TIMEOUT" =~ ^[1-9][0-9]{0,4}$ ]] ||
		die "invalid CLUSTER_DEMO_TIMEOUT \"${TIMEOUT//[^[:print:]]/?}\": a number of seconds"
}

make_network() {
	local node octet
	ip netns add "$PREFIX-lan"
	ip -n "$PREFIX-lan" link set lo up
	ip -n "$PREFIX-lan" link add name lan type bridge
	ip -n "$PREFIX-lan" link add name fabric type bridge
	ip -n "$PREFIX-lan" link set fabric mtu "$IB_MTU"
	ip -n "$PREFIX-lan" link set lan up
	ip -n "$PREFIX-lan" link set fabric up
	for node in "${NODES[@]}"; do
		octet=$(host_octet "$node")
		ip netns add "$PREFIX-$node"
		# No IPv6 duplicate address detection: link-local addresses and
		# their routes are final at once, before the guard's baseline.
		in_node "$node" sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
		ip -n "$PREFIX-$node" link set lo up
		# eth0: the node's Ethernet on the LAN.
		ip -n "$PREFIX-$node" link add name eth0 type veth peer name "$node-eth" netns "$PREFIX-lan"
		ip -n "$PREFIX-lan" link set "$node-eth" master lan up
		ip -n "$PREFIX-$node" addr add "$ETH_NET.$octet/24" dev eth0
		ip -n "$PREFIX-$node" link set eth0 up
		# ib0: a veth with IPoIB's datagram-mode MTU on the second fabric
		# (the kernel here has no IPoIB device without InfiniBand hardware).
		ip -n "$PREFIX-$node" link add name ib0 type veth peer name "$node-ib" netns "$PREFIX-lan"
		ip -n "$PREFIX-lan" link set "$node-ib" mtu "$IB_MTU" master fabric up
		ip -n "$PREFIX-$node" link set ib0 mtu "$IB_MTU"
		ip -n "$PREFIX-$node" addr add "$IB_NET.$octet/24" dev ib0
		ip -n "$PREFIX-$node" link set ib0 up
	done
}

# write_files: /etc/hosts, slurm.conf and the munge key of the cluster.
write_files() {
	local node octet uid gid
	{
		printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
		for node in "${NODES[@]}"; do
			octet=$(host_octet "$node")
			printf '%s.%s\t%s\n' "$ETH_NET" "$octet" "$node"
		done
		for node in "${NODES[@]}"; do
			octet=$(host_octet "$node")
			printf '%s.%s\t%s-ib\n' "$IB_NET" "$octet" "$node"
		done
	} >"$STATE/hosts"
	sed -e "s/@CLUSTER@/$PREFIX/g" -e "s/@HEAD@/head/g" -e "s/@COMPUTE@/$COMPUTE/g" \
		"$REPO/examples/slurm/slurm.conf.in" >"$STATE/slurm.conf"
	cp "$REPO/examples/slurm/cgroup.conf" "$STATE/cgroup.conf"
	chmod 0644 "$STATE/hosts" "$STATE/slurm.conf" "$STATE/cgroup.conf"

	# munged accepts a key only if it belongs to the user munged runs as
	# and nobody else may read it. A read-only bind shows host ownership
	# inside as it is (idmapped), so the file gets the image's munge ids as
	# its host ids. The directory is root's, 0700: no host user that
	# happens to have those ids can reach the key.
	uid=$("$APPTAINER" exec "$IMAGE" id -u munge 2>/dev/null) || uid=
	gid=$("$APPTAINER" exec "$IMAGE" id -g munge 2>/dev/null) || gid=
	# The image's answer is checked, and not printed as it is: an image
	# could answer with terminal escapes.
	if ! [[ "$uid" =~ ^[1-9][0-9]{0,4}$ && "$gid" =~ ^[1-9][0-9]{0,4}$ ]] || [ "$uid" -gt 65535 ] || [ "$gid" -gt 65535 ]; then
		die "the image's munge user is missing or not an unprivileged user inside (id -u munge, id -g munge gave \"${uid//[^[:alnum:]]/?}:${gid//[^[:alnum:]]/?}\")"
	fi
	install -d -m 0700 "$STATE/munge"
	(umask 077 && head -c 1024 /dev/urandom >"$STATE/munge/munge.key")
	chown "$uid:$gid" "$STATE/munge/munge.key"
	chmod 0400 "$STATE/munge/munge.key"
}

# start_node NODE: boot NODE's instance in NODE's namespace.
start_node() {
	local node=$1
	[ -z "$("$APPTAINER" instance list "$node" | tail -n +2)" ] ||
		die "an instance named $node already runs: this demo uses the names ${NODES[*]}"
	# Only what this script started is ever stopped by it. The name is
	# recorded before the start: an interrupt while instance start runs
	# must not leave the instance behind, and the check above made sure
	# the name is not someone else's.
	echo "$node" >>"$STATE/started"
	in_node "$node" "$APPTAINER" instance start --boot --boot-hostnet \
		--hostname "$node" \
		--bind "$STATE/hosts:/etc/hosts:ro" \
		--bind "$STATE/slurm.conf:/etc/slurm/slurm.conf:ro" \
		--bind "$STATE/cgroup.conf:/etc/slurm/cgroup.conf:ro" \
		--bind "$STATE/munge/munge.key:/etc/munge/munge.key:ro" \
		"$IMAGE" "$node"
}

# node_state NODE: NODE's compact state as sinfo prints it (idle, drain,
# down*, ...), or nothing while the controller does not answer.
node_state() {
	in_head sinfo -h -N -n "$1" -o '%t' 2>/dev/null | head -n 1 || true
}

# wait_state NODE REGEX WHAT: wait until NODE's state matches REGEX.
wait_state() {
	local node=$1 want=$2 what=$3 deadline=$((SECONDS + TIMEOUT)) state
	while :; do
		state=$(node_state "$node")
		[[ "$state" =~ $want ]] && return 0
		[ "$SECONDS" -lt "$deadline" ] ||
			die "$node is not $what after ${TIMEOUT}s (sinfo says \"$state\")"
		sleep 0.5 # poll interval: slurmctld has no event to wait on from here
	done
}

# check_free: refuse to make a cluster over another one. Called before the
# EXIT trap is set, whose down would remove the other cluster.
check_free() {
	if [ -e "$STATE" ] || [ -n "$(our_namespaces)" ]; then
		die "a cluster $PREFIX is already there (run: $SELF down)"
	fi
}

up() {
	local node
	install -d -m 0700 /run/apptainer-cluster-demo "$STATE"
	: >"$STATE/started"
	echo "$IMAGE" >"$STATE/image"

	step "Fake nodes: namespaces $PREFIX-{lan,head,node1,node2}, eth0 on bridge lan, ib0 on bridge fabric"
	make_network
	ip -n "$PREFIX-head" -br addr show

	step "Cluster files: /etc/hosts, slurm.conf, munge key ($STATE)"
	write_files

	step "Booting head (munged, slurmctld)"
	start_node head
	for node in node1 node2; do
		step "Booting $node (munged, slurmd)"
		start_node "$node"
	done

	step "Waiting for node1 and node2 to register (sinfo)"
	wait_state node1 '^idle$' idle
	wait_state node2 '^idle$' idle
	echo "--- sinfo"
	in_head sinfo
	echo "--- end sinfo"
}

# down: stop what up started (compute nodes first, so that their slurmd can
# still reach the controller to drain), delete the namespaces and files.
down() {
	local node pids image='' started=''
	[ -r "$STATE/image" ] && image=$(cat "$STATE/image")
	[ -r "$STATE/started" ] && started=$(cat "$STATE/started")
	for node in node2 node1 head; do
		grep -qx "$node" <<<"$started" || continue
		# It may never have started, or be stopped already: what is
		# still there is what check_clean reports.
		"$APPTAINER" instance stop -t 30 "$node" >/dev/null 2>&1 || true
	done
	for node in "${NODES[@]}" lan; do
		[ -e "/run/netns/$PREFIX-$node" ] || continue
		# Deleting the name does not end processes still inside; say so
		# rather than kill processes this script did not start.
		pids=$(ip netns pids "$PREFIX-$node" 2>/dev/null | tr '\n' ' ')
		[ -n "$pids" ] && echo "cluster-demo: warning: processes still in $PREFIX-$node: $pids" >&2
		ip netns del "$PREFIX-$node"
	done
	rm -rf "$STATE"
	rmdir /run/apptainer-cluster-demo 2>/dev/null || true
	check_clean "$image" "$started"
}

# check_clean IMAGE STARTED: fail when anything of the cluster is left
# (STARTED: the instances it started, one a line). Stopped monitors may
# take a moment to exit.
check_clean() {
	local image=$1 started=$2 deadline=$((SECONDS + 30)) left
	while :; do
		left=$(leftovers "$image" "$started")
		[ -z "$left" ] && { echo "nothing left: no instance, namespace, link, mount, loop device or file of $PREFIX"; return 0; }
		[ "$SECONDS" -lt "$deadline" ] || die "left behind:
$left"
		sleep 0.5 # poll interval: a monitor's exit has no event to wait on from here
	done
}

# our_namespaces: the names of this cluster's network namespaces, one a line.
our_namespaces() {
	local ns
	for ns in /run/netns/"$PREFIX"-*; do
		[ -e "$ns" ] && basename "$ns"
	done
	return 0
}

# leftovers IMAGE STARTED: what of the cluster is still there, one a line.
leftovers() {
	local image=$1 started=$2 node
	our_namespaces | sed 's/^/namespace /'
	for node in $started; do
		# The caller's instances (its HOME and host name) that this
		# script started, not every instance of that name.
		[ -n "$("$APPTAINER" instance list "$node" 2>/dev/null | tail -n +2)" ] && echo "instance $node"
	done
	[ -f "$image" ] && losetup -j "$image" | sed 's/^/loop device /'
	grep -F "$STATE" /proc/self/mountinfo | sed 's/^/mount /' || true
	[ -e "$STATE" ] && echo "directory $STATE"
	return 0
}

# checks: what make cluster-demo shows, on a running cluster.
checks() {
	local out
	step "srun -N2 hostname, from the head node"
	out=$(timeout "$TIMEOUT" "$APPTAINER" exec instance://head srun -N2 hostname) ||
		die "srun -N2 hostname failed"
	echo "--- srun"
	echo "$out"
	echo "--- end srun"
	if ! grep -qx node1 <<<"$out" || ! grep -qx node2 <<<"$out"; then
		die "srun did not run on both node1 and node2"
	fi

	step "Stopping node2's instance: its slurmd drains it on the way down"
	"$APPTAINER" instance stop -t 30 node2
	sed -i '/^node2$/d' "$STATE/started"
	wait_state node2 '^(drain|drng|down)\*?$' "drained or down"
	echo "--- sinfo"
	in_head sinfo
	echo "--- end sinfo"
	in_head sinfo -h -N -n node2 -o '%N %t %E'
}

diagnose() {
	local node
	[ -r "$STATE/started" ] || return 0
	while read -r node; do
		printf '\n--- %s: failed units and the last daemon logs\n' "$node" >&2
		"$APPTAINER" exec "instance://$node" systemctl --failed --no-pager >&2 || true
		"$APPTAINER" exec "instance://$node" journalctl --no-pager -n 30 \
			-u munge -u slurmctld -u slurmd >&2 || true
	done <"$STATE/started"
}

# on_exit_run: the EXIT trap of run: the cluster goes, whatever happened.
on_exit_run() {
	local rc=$?
	trap - EXIT
	[ "$rc" -eq 0 ] || diagnose
	step "Removing the cluster"
	down || rc=1
	exit "$rc"
}

# on_exit_up: the EXIT trap of up: a half-made cluster is worse than none.
on_exit_up() {
	local rc=$?
	trap - EXIT
	if [ "$rc" -ne 0 ]; then
		diagnose
		down || true
	fi
	exit "$rc"
}

run() {
	check_free
	trap on_exit_run EXIT
	trap 'exit 130' INT TERM
	up
	checks
	step "Done in ${SECONDS}s: srun ran on node1 and node2, node2 drained when its instance stopped"
}

cmd=${1:-run}
case "$cmd" in
run|up|down) ;;
-h|--help) usage; exit 0 ;;
*) usage >&2; exit 2 ;;
esac
[ "$#" -le 1 ] || { usage >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "must run as root: it makes network namespaces and boots instances"
check_settings
resolve_binary
case "$cmd" in
run)
	resolve_image
	run
	;;
up)
	resolve_image
	check_free
	trap on_exit_up EXIT
	trap 'exit 130' INT TERM
	up
	step "The cluster is up: $APPTAINER exec instance://head srun -N2 hostname; remove it with: $SELF down"
	;;
down)
	down
	;;
esac
