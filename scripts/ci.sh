#!/bin/bash
# ci.sh: everything CI checks, as the README's second command and .ci/run
# run it: on Debian 12, as root, from any checkout.
#
#   1. install dependencies   scripts/install-deps.sh
#   2. build                  make (configures ./builddir if needed)
#   3. lint                   make lint
#   4. unit tests             go test -count=1 ./...
#   5. short fuzz run         scripts/fuzz.sh --short
#   6. packages               make deb, lintian on it, make rpm (about a
#                             minute and a half on the 2-core VM)
#   7. end-to-end tests       make e2e (builds or reuses the cached images;
#                             TestPackageDebInstall installs step 6's .deb)
#   8. the same under load    make e2e-loaded: the fault, race, soak and
#                             hostnet tests while stress-ng keeps every core
#                             busy (scripts/under-load.sh)
#   9. a clean tree           nothing of the above wrote into the checkout
#
# It stops at the first failing step.
set -euo pipefail

cd "$(dirname "$0")/.."

step() { printf '\n==> [%4ds] %s\n' "$SECONDS" "$*"; }

[ "$(id -u)" -eq 0 ] || { echo "ci: must run as root (dependencies, e2e boots)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# What git sees before anything runs; step 9 wants the same after.
tree_state() { git status --porcelain=v1 --untracked-files=all 2>/dev/null || true; }
before=$(tree_state)

step "install dependencies"
scripts/install-deps.sh
command -v go >/dev/null || export PATH="/usr/local/go/bin:$PATH"

step "build"
make -s

step "lint"
make -s lint

step "unit tests"
go test -count=1 ./...

step "short fuzz run (100000 inputs per target; make fuzz runs 10 min each)"
scripts/fuzz.sh --short

step "packages: make deb, lintian, make rpm"
rm -rf builddir/packages
make -s deb
lintian --fail-on error builddir/packages/apptainer_*.deb
make -s rpm
rpm -qlp builddir/packages/apptainer-*.rpm | grep -qx /usr/bin/apptainer ||
	{ echo "ci: the RPM lacks /usr/bin/apptainer" >&2; exit 1; }
debs=(builddir/packages/apptainer_*.deb)

step "end-to-end tests"
APPTAINER_E2E_DEB=$PWD/${debs[0]} make -s e2e

step "end-to-end tests under load (stress-ng on every core)"
make -s e2e-loaded

step "the checkout is as it was (no test wrote into the source tree)"
after=$(tree_state)
if [ "$after" != "$before" ]; then
	echo "ci: the run changed the checkout:" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	exit 1
fi
