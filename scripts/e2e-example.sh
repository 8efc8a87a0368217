#!/bin/bash
# e2e-example.sh BINARY [DEFINITION]: build DEFINITION (by default
# examples/systemd-debian/systemd-debian.def; examples/slurm/slurm.def is the
# other one) into a SIF with BINARY (debootstrap from the network; minutes),
# or reuse the cached one. The cache key is a hash of the definition and of
# the network-overrides kit it copies in, so an edited definition gets a new
# image and never a stale one. Progress goes to stderr; the last line
# on stdout is the SIF's path. The e2e tests cannot build it themselves:
# they run in a network namespace of their own, without the mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: scripts/e2e-example.sh APPTAINER_BINARY [DEFINITION]}
def=${2:-examples/systemd-debian/systemd-debian.def}
[ -f "$def" ] || { echo "e2e-example: no definition file $def" >&2; exit 1; }
cache=${APPTAINER_E2E_CACHE:-/var/cache/apptainer-e2e}/sif
key=$( { cat "$def"; find etc/network-overrides -type f -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -c1-16)
out=$cache/example-$key.sif
mkdir -p "$cache"
exec 9>"$cache/.example.lock"
flock 9
if [ ! -s "$out" ]; then
	printf '==> building %s (debootstrap, a few minutes)\n' "$out" >&2
	APPTAINER_NETWORK_OVERRIDES=$PWD/etc/network-overrides "$bin" build "$out" "$def" >&2
fi
echo "$out"
