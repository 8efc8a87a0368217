#!/bin/bash
# demo.sh: the README's first command. On a Debian 12 machine, as root, it
# installs what is needed, builds apptainer, builds (or reuses) the cached
# Debian systemd image, and boots it with --boot-hostnet on a throwaway fake
# host network (scripts/fakehost.sh), never on the machine's real one:
#
#   1. audit the image: what in it would touch a host network it boots on
#   2. instance start --boot --boot-hostnet IMAGE demo, inside the fake host
#   3. instance list, and the state systemd reached inside the instance
#   4. the guard: the fake host's network before, during and after, diffed
#   5. instance stop demo, then the fake host is removed (also on failure)
#
# Environment: APPTAINER (binary to use; default: the one built in
# builddir), APPTAINER_DEMO_HOST (fake host name; default apptainer-demo).
set -euo pipefail

cd "$(dirname "$0")/.."
readonly REPO=$PWD
readonly HOST=${APPTAINER_DEMO_HOST:-apptainer-demo}
readonly INSTANCE=demo

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root: booting an instance and making network namespaces need it"

step "Installing dependencies"
scripts/install-deps.sh
command -v go >/dev/null || export PATH="/usr/local/go/bin:$PATH"

if [ -z "${APPTAINER:-}" ]; then
	step "Building apptainer"
	make -s
	APPTAINER=$REPO/builddir/apptainer
fi
[ -x "$APPTAINER" ] || die "no apptainer binary at $APPTAINER"

step "Building (or reusing) the Debian bookworm systemd image"
IMAGE=$(scripts/e2e-image.sh)
echo "image: $IMAGE"

# in_host CMD...: run CMD on the fake host's network. nsenter only switches
# the network namespace; `ip netns exec` would also remount /sys, hiding
# /sys/fs/cgroup, which the boot needs.
in_host() { nsenter --net="/run/netns/$HOST" -- "$@"; }

work=$(mktemp -d)
started=0
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$started" -eq 1 ]; then
		in_host "$APPTAINER" instance stop "$INSTANCE" >/dev/null 2>&1 || true
	fi
	scripts/fakehost.sh down "$HOST" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "1. What in the image would touch the host network (apptainer hostnet audit)"
# Exit status 1 means "risky units found": expected for a stock image, and
# exactly what --boot-hostnet's safeguards are for.
"$APPTAINER" hostnet audit "$IMAGE" || [ $? -eq 1 ] || die "hostnet audit failed"

step "2. Fake host $HOST, and the boot on its network"
scripts/fakehost.sh up "$HOST"
scripts/fakehost.sh snap "$HOST" >"$work/before"
started=1
in_host "$APPTAINER" instance start --boot --boot-hostnet "$IMAGE" "$INSTANCE"

step "3. The instance"
in_host "$APPTAINER" instance list
printf 'systemd inside: '
in_host "$APPTAINER" exec "instance://$INSTANCE" systemctl is-system-running --wait || true

# guard_check WHEN: diff the fake host's network against the baseline.
guard_check() {
	scripts/fakehost.sh snap "$HOST" >"$work/now"
	if diff -u "$work/before" "$work/now" >"$work/diff"; then
		echo "fake host network $1: unchanged (addresses, links, routes, rules, listeners, net.* sysctls, firewall, resolv.conf)"
	else
		cat "$work/diff"
		die "the fake host network changed $1"
	fi
}

# wait_jobs: wait until systemd in the instance has no job queued, so that
# late units (socket or timer activated, queued after the boot) have had
# their go before the fake host is compared.
wait_jobs() {
	local deadline=$((SECONDS + 60)) jobs
	while :; do
		jobs=$(in_host "$APPTAINER" exec "instance://$INSTANCE" systemctl list-jobs --no-pager) || die "systemctl list-jobs in $INSTANCE failed"
		[ "$jobs" != "No jobs running." ] || return 0
		[ "$SECONDS" -lt "$deadline" ] || die "systemd in $INSTANCE still has jobs after 60 s:
$jobs"
		sleep 0.2 # poll interval: the job queue has no event to wait on from here
	done
}

step "4. The guard: the fake host's network while the instance runs"
wait_jobs
guard_check "while $INSTANCE runs"

step "5. Stop"
in_host "$APPTAINER" instance stop "$INSTANCE"
started=0
guard_check "after $INSTANCE stopped"

step "Done: $INSTANCE booted on the host network and left it as it found it"
