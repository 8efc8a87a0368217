#!/bin/bash
# build-package.sh deb|rpm OUTDIR: build the Debian package (dpkg-buildpackage
# with dist/debian) or the RPM (rpmbuild with dist/rpm/apptainer.spec) from
# a copy of this source tree, and put the packages in OUTDIR. `make deb` and
# `make rpm` run it with OUTDIR=builddir/packages.
#
# The source tree is never written to: the build runs in a temporary copy
# of the files git knows (tracked, or untracked and not ignored), so a
# builddir or editor files in the checkout do not reach the package.
#
# Offline: the go tool reads the modules from the module cache that
# `go mod download` filled (GOMODCACHE) with GOPROXY=off, and reuses the
# build cache (GOCACHE). A module missing from the cache is an error that
# says to run `go mod download` first.
#
# Go: $GO, else go from PATH, else /usr/local/go/bin/go (as mconfig).
# Version: $APPTAINER_VERSION, else from git tags, else the source default
# (as mconfig); the package version is made from it by pkg_version below.
set -euo pipefail

die() { printf 'build-package: %s\n' "$*" >&2; exit 1; }
step() { printf '==> %s\n' "$*" >&2; }

# pkg_version VERSION: the package version for the source version VERSION,
# the same for dpkg and rpm (neither allows '-' in an upstream version):
#   1.2.3                 1.2.3
#   1.2.3-rc.1, 0.1.0-dev 1.2.3~rc.1, 0.1.0~dev   (sorts before 1.2.3)
#   1.2.3-4-gabc123       1.2.3+4.gabc123         (4 commits after 1.2.3)
#   1.2.3-4-gabc123-dirty 1.2.3+4.gabc123.dirty
#   1.2.3-dirty           1.2.3+dirty             (edits on top of 1.2.3)
pkg_version() {
	local v=$1
	if [[ $v =~ ^([0-9][^-]*)-dirty$ ]]; then
		v="${BASH_REMATCH[1]}+dirty"
	elif [[ $v =~ ^([0-9][^-]*)-([0-9]+)-(g[0-9a-f]+)(-dirty)?$ ]]; then
		v="${BASH_REMATCH[1]}+${BASH_REMATCH[2]}.${BASH_REMATCH[3]}"
		[ -z "${BASH_REMATCH[4]}" ] || v="$v.dirty"
	elif [[ $v =~ ^([0-9][^-]*)-(.+)$ ]]; then
		v="${BASH_REMATCH[1]}~${BASH_REMATCH[2]//-/.}"
	fi
	[[ $v =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || return 1
	printf '%s\n' "$v"
}

if [ "${1:-}" = --pkg-version ]; then
	[ $# -eq 2 ] || die "usage: $0 --pkg-version VERSION"
	pkg_version "$2" || die "cannot make a package version of \"$2\""
	exit 0
fi

[ $# -eq 2 ] || die "usage: $0 deb|rpm OUTDIR"
kind=$1
outdir=$2
case $kind in
deb) tools=(dpkg-buildpackage dh) ;;
rpm) tools=(rpmbuild) ;;
*) die "unknown package kind \"$kind\" (want deb or rpm)" ;;
esac
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null ||
		die "$tool not found: install Debian's $([ "$kind" = deb ] && echo debhelper || echo rpm) package (scripts/install-deps.sh)"
done

src=$(cd "$(dirname "$0")/.." && pwd -P)

go=${GO:-}
if [ -z "$go" ]; then
	go=$(command -v go 2>/dev/null || true)
	[ -n "$go" ] || { [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go; }
fi
{ [ -n "$go" ] && [ -x "$go" ]; } || die "the go command was not found: install Go (see docs/packaging.md) or set GO=/path/to/go"

version=${APPTAINER_VERSION:-}
if [ -z "$version" ]; then
	if tag=$(git -C "$src" describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
		version=${tag#v}
	else
		version=$(sed -n 's/^[[:space:]]*Version[[:space:]]*=[[:space:]]*"\(.*\)"$/\1/p' "$src/internal/pkg/buildcfg/buildcfg.go")
	fi
fi
pkgver=$(pkg_version "$version") || die "cannot make a package version of \"$version\""

# The go tool's caches as the caller has them: debhelper and rpmbuild
# change HOME, and the defaults hang off it.
GOMODCACHE=$("$go" env GOMODCACHE)
GOCACHE=$("$go" env GOCACHE)
export GO=$go GOMODCACHE GOCACHE GOPROXY=off GOTOOLCHAIN=local APPTAINER_VERSION=$version
(cd "$src" && "$go" mod download) >/dev/null 2>&1 ||
	die "Go modules are missing from $GOMODCACHE: run \`go mod download\` (it needs the network) once, then build again"

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd -P)
work=$(mktemp -d "${TMPDIR:-/tmp}/apptainer-$kind.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/apptainer-$pkgver
mkdir "$tree"

step "copying the source tree to $tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Files deleted in the checkout but still tracked are skipped.
	git -C "$src" ls-files -z --cached --others --exclude-standard --deduplicate |
		while IFS= read -r -d '' f; do
			if [ -e "$src/$f" ] || [ -L "$src/$f" ]; then printf '%s\0' "$f"; fi
		done |
		tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
else
	tar -C "$src" --exclude=./builddir --exclude=./.git -cf - . | tar -C "$tree" -xf -
fi

build_deb() {
	cp -R "$tree/dist/debian" "$tree/debian"
	# The first changelog line carries the package version.
	sed -i "1s/([^)]*)/($pkgver)/" "$tree/debian/changelog"
	step "dpkg-buildpackage -us -uc -b (apptainer $pkgver)"
	(cd "$tree" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
		tail -n 60 "$work/build.log" >&2
		die "dpkg-buildpackage failed (the end of its log is above)"
	}
	for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes; do
		if [ -e "$f" ]; then cp "$f" "$outdir/"; fi
	done
	ls "$outdir"/apptainer_"$pkgver"_*.deb
}

build_rpm() {
	local top=$work/rpmbuild
	mkdir -p "$top/SOURCES"
	tar -C "$work" -czf "$top/SOURCES/apptainer-$pkgver.tar.gz" "apptainer-$pkgver"
	step "rpmbuild -bb --nodeps (apptainer $pkgver)"
	# --nodeps: the BuildRequires name Fedora and EL packages, which
	# Debian's rpm database does not know (docs/packaging.md).
	rpmbuild -bb --nodeps \
		--define "_topdir $top" \
		--define "pkgversion $pkgver" \
		--define "apptainer_version $version" \
		"$tree/dist/rpm/apptainer.spec" >"$work/build.log" 2>&1 || {
		tail -n 60 "$work/build.log" >&2
		die "rpmbuild failed (the end of its log is above)"
	}
	cp "$top"/RPMS/*/*.rpm "$outdir/"
	ls "$outdir"/apptainer-"$pkgver"-*.rpm
}

"build_$kind"
