#!/bin/bash
# under-load.sh: run a command on a busy machine, as on a build host that
# other jobs share. stress-ng keeps every core busy (two CPU workers per
# core) and one worker writes and reads a scratch file, from before the
# command starts until after it ends, however it ends (exit, failure,
# Ctrl-C). `make e2e-loaded` runs the end-to-end tests this way.
#
#   scripts/under-load.sh COMMAND [ARG...]
#
# The exit status is COMMAND's, or 1 if the load did not last as long as
# the command: a run that was not under load proves nothing about load.
# LOAD_TIMEOUT (default 100m, stress-ng's syntax) bounds the load even if
# this script is killed without a chance to stop it.
set -euo pipefail

die() { printf 'under-load: %s\n' "$*" >&2; exit 1; }

[ "$#" -ge 1 ] || die "usage: $0 COMMAND [ARG...]"
command -v stress-ng >/dev/null || die "stress-ng not found (scripts/install-deps.sh installs it)"

cores=$(nproc)
workers=$((2 * cores))
scratch=$(mktemp -d "${TMPDIR:-/var/tmp}/under-load.XXXXXX")
hog=

# stop_load runs from the EXIT trap, which shellcheck does not follow.
# shellcheck disable=SC2317
stop_load() {
	if [ -n "$hog" ]; then
		kill -TERM "$hog" 2>/dev/null || true
		wait "$hog" 2>/dev/null || true
		hog=
	fi
	rm -rf "$scratch"
}
trap stop_load EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# alive PID: PID is still running (not gone, not a zombie we have not
# waited for yet).
alive() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

stress-ng --cpu "$workers" --hdd 1 --hdd-bytes 256M --temp-path "$scratch" \
	--timeout "${LOAD_TIMEOUT:-100m}" --quiet &
hog=$!

# Wait until the workers run (each is a child of stress-ng), so that the
# command starts on a machine that is busy already.
deadline=$((SECONDS + 30))
while [ "$(pgrep -c -P "$hog" || true)" -lt $((workers + 1)) ]; do
	alive "$hog" || die "stress-ng exited at start"
	[ "$SECONDS" -lt "$deadline" ] || die "stress-ng did not start its $((workers + 1)) workers in 30 s"
	sleep 0.1 # poll interval: nothing to wait on for another process's children
done
printf 'under-load: stress-ng (PID %s): %d CPU workers on %d cores, 1 disk worker in %s\n' "$hog" "$workers" "$cores" "$scratch" >&2

rc=0
"$@" || rc=$?

printf 'under-load: load average at the end: %s\n' "$(cut -d ' ' -f 1-3 /proc/loadavg)" >&2
if ! alive "$hog"; then
	printf 'under-load: stress-ng ended before the command did: the run was not under load all along\n' >&2
	[ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
