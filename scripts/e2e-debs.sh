#!/bin/bash
# e2e-debs.sh ROOTFS: download, or reuse, the Debian packages that the .deb's
# Depends (dist/debian/control), and the Recommends squashfuse and uidmap,
# need and the image ROOTFS lacks, with what
# they need in turn, so that the package install test can `dpkg -i` them
# into a copy of the image without network (the e2e tests run in a network
# namespace of their own). The .debs come from the image's own mirror (its
# /etc/apt/sources.list) and are cached under
# ${APPTAINER_E2E_CACHE:-/var/cache/apptainer-e2e}/debs-<key>, where <key>
# hashes the image's package list, the dependencies and this script. The
# last line on stdout is that folder (it may hold no .deb at all when the
# image has everything). Progress goes to stderr.
#
# Only apt-get's download runs against the network, with its own lists,
# cache and status copy in a temporary folder: neither the image nor the
# machine's apt state is written.
set -euo pipefail

die() { printf 'e2e-debs: %s\n' "$*" >&2; exit 1; }
step() { printf '==> %s\n' "$*" >&2; }

[ $# -eq 1 ] || die "usage: $0 ROOTFS"
rootfs=$1
[ -f "$rootfs/var/lib/dpkg/status" ] || die "$rootfs has no dpkg status: not a Debian root file system"
src=$(cd "$(dirname "$0")/.." && pwd -P)
readonly CACHE=${APPTAINER_E2E_CACHE:-/var/cache/apptainer-e2e}

# control_depends FILE: the package names of the binary package's
# Depends, substitution variables and version constraints dropped, the
# first of each set of alternatives taken.
control_depends() {
	awk '
		/^Package:/ { inpkg = 1 }
		inpkg && /^Depends:/ { on = 1; sub(/^Depends:/, ""); print; next }
		on && /^[ \t]/ { print; next }
		{ on = 0 }
	' "$1" | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/\$[{][^}]*[}]//g' -e 's/[[:space:]]//g' |
		grep -v '^$' | sort -u
}

mapfile -t deps < <(control_depends "$src/dist/debian/control")
[ "${#deps[@]}" -gt 0 ] || die "no Depends found in dist/debian/control"
# Recommends the test's user part needs: a SIF without root (squashfuse)
# and --fakeroot with a subordinate range (uidmap).
deps+=(squashfuse uidmap)

key=$({
	printf '%s\n' "${deps[@]}"
	cat "$rootfs/var/lib/dpkg/status" "$0"
} | sha256sum | cut -c1-16)
final=$CACHE/debs-$key

if [ -f "$final/.complete" ]; then
	step "reusing $final"
	echo "$final"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root to download into $CACHE"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock.debs-$key"
flock 9
if [ ! -f "$final/.complete" ]; then
	tmp=$(mktemp -d "$CACHE/.tmp.debs-$key.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/lists/partial" "$tmp/cache" "$tmp/archives/partial" "$tmp/sources.list.d" "$tmp/debs"
	cp "$rootfs/var/lib/dpkg/status" "$tmp/status"
	apt_opts=(
		-o "Dir::State::status=$tmp/status"
		-o "Dir::State::Lists=$tmp/lists"
		-o "Dir::State::extended_states=$tmp/extended_states"
		-o "Dir::Cache=$tmp/cache"
		-o "Dir::Cache::archives=$tmp/archives"
		-o "Dir::Etc::sourcelist=$rootfs/etc/apt/sources.list"
		-o "Dir::Etc::sourceparts=$tmp/sources.list.d"
		-o "Debug::NoLocking=1"
		-o "APT::Install-Recommends=false"
	)
	step "apt-get update from the image's mirror ($(grep -m1 '^deb ' "$rootfs/etc/apt/sources.list" || echo '?'))"
	apt-get -q "${apt_opts[@]}" update >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; die "apt-get update failed"; }
	step "downloading what ${deps[*]} need and the image lacks"
	apt-get -q -y "${apt_opts[@]}" install --download-only "${deps[@]}" >"$tmp/log" 2>&1 ||
		{ cat "$tmp/log" >&2; die "apt-get install --download-only failed"; }
	find "$tmp/archives" -maxdepth 1 -name '*.deb' -exec mv -t "$tmp/debs" {} +
	touch "$tmp/debs/.complete"
	chmod 0755 "$tmp/debs"
	rm -rf "$final"
	mv -T "$tmp/debs" "$final"
fi
step "$(find "$final" -name '*.deb' | wc -l) packages in $final"
echo "$final"
