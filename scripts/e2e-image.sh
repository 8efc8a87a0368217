#!/bin/bash
# e2e-image.sh: build, or reuse, a Debian bookworm root filesystem that the
# e2e tests and the demo boot: the systemd image (the default) or the
# sysvinit one (legacy --boot of an init that does not report readiness).
# It is cached outside the repository, under
# ${APPTAINER_E2E_CACHE:-/var/cache/apptainer-e2e}/<key>/rootfs, where <key>
# is a hash of the recipe below and of this script, so editing either gives
# a new image and never a stale one. Progress goes to stderr; the last line
# on stdout is the rootfs path.
#
#   scripts/e2e-image.sh                     build if missing, print the path
#   scripts/e2e-image.sh --recipe sysvinit   the same for the sysvinit image
#   scripts/e2e-image.sh --prune             also delete cached images of
#                                            the same recipe and other keys
#   scripts/e2e-image.sh --key               print the key only (builds nothing)
#
# Environment: APPTAINER_E2E_CACHE (cache folder), APPTAINER_E2E_MIRROR
# (Debian mirror URL for debootstrap; its default mirror when unset).
set -euo pipefail

# The recipes. Everything that decides an image's content is here and feeds
# the key. The mirror does not: any mirror serves the same packages.
recipe_packages() {
	case "$1" in
	systemd) echo systemd,systemd-sysv,systemd-resolved,dbus,iproute2,ifupdown,isc-dhcp-client,procps,iputils-ping,libcap2-bin ;;
	# Debian's sysvinit with its rc scripts, ifupdown's "networking" among
	# them: what an old cluster image boots.
	sysvinit) echo sysvinit-core,ifupdown,iproute2,procps ;;
	*) return 1 ;;
	esac
}
readonly SUITE=bookworm
readonly VARIANT=minbase
readonly HOSTNAME_IN_IMAGE=apptainer-e2e

readonly CACHE=${APPTAINER_E2E_CACHE:-/var/cache/apptainer-e2e}

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'e2e-image: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
}

prune=0 keyonly=0 RECIPE=systemd
while [ $# -gt 0 ]; do
	case "$1" in
	--prune) prune=1 ;;
	--key) keyonly=1 ;;
	--recipe)
		[ $# -ge 2 ] || die "--recipe needs a name (systemd or sysvinit)"
		RECIPE=$2
		shift
		;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument \"$1\"" ;;
	esac
	shift
done
PACKAGES=$(recipe_packages "$RECIPE") || die "unknown recipe \"$RECIPE\" (want systemd or sysvinit)"
readonly RECIPE PACKAGES

recipe_key() {
	{
		printf 'recipe=%s\nsuite=%s\nvariant=%s\npackages=%s\nhostname=%s\n' \
			"$RECIPE" "$SUITE" "$VARIANT" "$PACKAGES" "$HOSTNAME_IN_IMAGE"
		cat "$0"
	} | sha256sum | cut -c1-16
}

KEY=$(recipe_key)
readonly KEY
if [ "$keyonly" -eq 1 ]; then
	echo "$KEY"
	exit 0
fi

readonly FINAL=$CACHE/$KEY
readonly ROOTFS=$FINAL/rootfs

# A finished entry is only ever made by the rename at the end of build(),
# so an existing $FINAL is complete.
complete() { [ -x "$ROOTFS/sbin/init" ] && [ -f "$FINAL/recipe" ]; }

# umount_under DIR: unmount whatever a killed debootstrap left mounted
# below DIR (its /proc and /sys), deepest first, so rm cannot cross into
# them.
umount_under() {
	local dir=$1 mnt
	awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r mnt; do
		umount -l "$mnt" 2>/dev/null || true
	done
}

remove_tree() {
	umount_under "$1"
	rm -rf --one-file-system "$1"
}

build() {
	local tmp start mirror=()
	# Builds left by a run that was killed (no trap ran): we hold the
	# lock, so nobody else is writing them.
	for tmp in "$CACHE"/.tmp."$KEY".*; do
		[ -e "$tmp" ] || continue
		step "removing the unfinished build $tmp"
		remove_tree "$tmp"
	done

	tmp=$(mktemp -d "$CACHE/.tmp.$KEY.XXXXXX")
	# Whatever happens from here on, a failed build leaves nothing behind.
	trap 'remove_tree "'"$tmp"'"' EXIT
	trap 'exit 130' INT TERM

	[ -n "${APPTAINER_E2E_MIRROR:-}" ] && mirror=("$APPTAINER_E2E_MIRROR")
	step "debootstrap --variant=$VARIANT $SUITE (key $KEY); this takes one to three minutes"
	start=$(date +%s)
	if ! debootstrap --variant="$VARIANT" --include="$PACKAGES" \
		"$SUITE" "$tmp/rootfs" "${mirror[@]}" >"$tmp/debootstrap.log" 2>&1; then
		tail -n 30 "$tmp/debootstrap.log" >&2
		[ -f "$tmp/rootfs/debootstrap/debootstrap.log" ] &&
			tail -n 30 "$tmp/rootfs/debootstrap/debootstrap.log" >&2
		die "debootstrap failed (the log is above)"
	fi

	step "finishing the image"
	# The .debs debootstrap downloaded are ~44 MiB of dead weight.
	chroot "$tmp/rootfs" apt-get clean
	# debootstrap copies the build host's name into the image.
	echo "$HOSTNAME_IN_IMAGE" >"$tmp/rootfs/etc/hostname"
	# An empty machine-id makes systemd generate a fresh one at every boot,
	# so two instances of this image never share an id.
	: >"$tmp/rootfs/etc/machine-id"
	# dbus made its own fixed id at install time; point it at systemd's.
	if [ -d "$tmp/rootfs/var/lib/dbus" ]; then
		ln -sfn /etc/machine-id "$tmp/rootfs/var/lib/dbus/machine-id"
	fi
	printf 'recipe=%s\nsuite=%s\nvariant=%s\npackages=%s\nhostname=%s\nbuilt=%s\nseconds=%s\n' \
		"$RECIPE" "$SUITE" "$VARIANT" "$PACKAGES" "$HOSTNAME_IN_IMAGE" \
		"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(($(date +%s) - start))" >"$tmp/recipe"
	rm -f "$tmp/debootstrap.log"

	# mktemp made it 0700; non-root users must be able to read the image.
	chmod 0755 "$tmp"
	# rename(2) of a directory is atomic: readers see all or nothing.
	mv -T "$tmp" "$FINAL"
	trap - EXIT INT TERM
	step "built $ROOTFS in $(($(date +%s) - start)) s"
}

prune_others() {
	local d of
	for d in "$CACHE"/*/; do
		d=${d%/}
		[ "$d" = "$FINAL" ] && continue
		[ -f "$d/recipe" ] || continue  # not one of ours
		# Another recipe's image is still in use; images from before
		# recipes had names are systemd ones.
		of=$(sed -n 's/^recipe=//p' "$d/recipe")
		[ "${of:-systemd}" = "$RECIPE" ] || continue
		step "pruning the old image $d"
		remove_tree "$d"
		rm -f "$CACHE/.lock.${d##*/}"
	done
}

if ! complete || [ "$prune" -eq 1 ]; then
	[ "$(id -u)" -eq 0 ] || die "must run as root to build the image (debootstrap, chroot)"
	command -v debootstrap >/dev/null || die "debootstrap not found: run scripts/install-deps.sh"
	mkdir -p "$CACHE"
	# One builder at a time per key; the others wait here and then find
	# the finished image. The lock is dropped when this shell exits.
	exec 9>"$CACHE/.lock.$KEY"
	if ! flock -n 9; then
		step "another run is building image $KEY; waiting for it"
		flock 9
	fi
	if complete; then
		step "reusing $ROOTFS"
	else
		build
	fi
	[ "$prune" -eq 1 ] && prune_others
else
	step "reusing $ROOTFS"
fi

complete || die "no complete image at $ROOTFS"
echo "$ROOTFS"
