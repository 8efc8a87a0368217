#!/bin/bash
# install-deps.sh: install what building and testing this project needs on
# Debian 12, as root. Safe to run again: apt-get skips what is installed and
# the package lists are refreshed at most once per run (and not at all when
# every package is already there).
set -euo pipefail

cd "$(dirname "$0")/.."

# Go comes from go.dev, not apt: bookworm's golang is too old for go.mod.
readonly GO_MIN_MINOR=24

# What each package is for:
#   debootstrap                 builds the e2e Debian systemd image (scripts/e2e-image.sh)
#   systemd-container           systemd-nspawn, the reference runtime of the benchmarks
#   squashfs-tools              mksquashfs/unsquashfs for SIF and squashfs images
#   containernetworking-plugins CNI bridge/ptp/portmap/firewall plugins (/usr/lib/cni)
#   iptables nftables           used by the CNI plugins and by the fake host's firewall
#   busybox-static              the e2e tests' small non-systemd rootfs
#   iproute2 util-linux         ip, nsenter, unshare, losetup, flock
#   iperf3 hyperfine strace     benchmarks (strace times the runtime's own start)
#   libcap2-bin procps          capsh/getpcaps, ps/pgrep in tests
#   make gcc libc6-dev          build (apptainer-nsenter is C, linked static)
#   libseccomp-dev              apptainer-nsenter compiles seccomp filters with it (static)
#   git ca-certificates         `go mod download`, version from git tags
#   the shellcheck tool         `make lint` checks the shell scripts
#   stress-ng                   `make e2e-loaded` (CI) keeps every core busy with it
#                               while the e2e tests run (scripts/under-load.sh)
#   docker-registry             the e2e tests start it on loopback to build and pull
#                               from (its own systemd service is disabled below)
#   debhelper lintian rpm       make deb (dpkg-buildpackage), its lintian check, make rpm
#   squashfuse fuse3            SIF images of users without root: squashfuse serves
#                               the squashfs in the user's namespace (fuse3: fusermount3)
#   fuse-overlayfs              the root overlay of users without root where the kernel
#                               refuses overlayfs to a user namespace (before Linux 5.11)
#   uidmap                      newuidmap/newgidmap: --fakeroot of users with ranges in
#                               /etc/subuid and /etc/subgid
readonly PACKAGES=(
	debootstrap systemd-container squashfs-tools containernetworking-plugins
	iptables nftables busybox-static iproute2 util-linux iperf3 libcap2-bin
	procps hyperfine strace make gcc libc6-dev git ca-certificates shellcheck
	stress-ng libseccomp-dev docker-registry debhelper lintian rpm
	squashfuse fuse3 fuse-overlayfs uidmap
)

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'install-deps: %s\n' "$*" >&2; exit 1; }

# quiet CMD...: run CMD with its chatter kept in a log that is shown only
# when it fails, so a good run prints just the step lines.
quiet() {
	local log rc=0
	log=$(mktemp)
	"$@" >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$log" >&2
		rm -f "$log"
		die "'$*' failed (exit $rc)"
	fi
	rm -f "$log"
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs Debian packages)"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 (bookworm)"

export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PACKAGES[@]}"; do
	# dpkg-query prints "install ok installed" only for a fully installed package.
	if [ "$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	step "Debian packages: all ${#PACKAGES[@]} already installed"
else
	step "apt-get update"
	quiet apt-get update -q
	step "apt-get install ${missing[*]}"
	# docker-registry's package would start its service, listening on :5000
	# on every address, right away: no service starts during the install
	# (policy-rc.d, unless the machine has one of its own).
	policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# install-deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	quiet apt-get install -y -q --no-install-recommends "${missing[@]}"
	if [ -n "$policy" ]; then
		rm -f "$policy"
		trap - EXIT
	fi
fi
# The tests start their own registry on loopback: the package's service
# stays off (and is stopped, should it run).
if [ -e /etc/systemd/system/multi-user.target.wants/docker-registry.service ]; then
	step "disabling the docker-registry service"
	if [ -d /run/systemd/system ]; then
		quiet systemctl disable --now docker-registry
	else
		quiet systemctl --root=/ disable docker-registry
	fi
fi

# Go: a toolchain in PATH or at the usual /usr/local/go.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null; then
	die "go not found. Install Go 1.${GO_MIN_MINOR} or newer from https://go.dev/dl/ (unpack it to /usr/local/go and add /usr/local/go/bin to PATH), then run this again."
fi
gover=$(go env GOVERSION)        # e.g. go1.26.8
minor=${gover#go1.}
minor=${minor%%.*}
case "$minor" in
''|*[!0-9]*) die "cannot parse the Go version \"$gover\"" ;;
esac
[ "$minor" -ge "$GO_MIN_MINOR" ] || die "$gover is too old: Go 1.${GO_MIN_MINOR} or newer is needed (https://go.dev/dl/)"
step "Go: $gover"

step "go mod download"
quiet go mod download

step "dependencies ready"
