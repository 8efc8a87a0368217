#!/bin/bash
# ci.sh: everything CI checks, as the README's second command and .ci/run
# run it: on Debian 12, as root, from any checkout.
#
#   1. install dependencies   scripts/install-deps.sh
#   2. build                  make (configures ./builddir if needed)
#   3. lint                   make lint
#   4. unit tests             go test -count=1 ./...
#   5. short fuzz run         scripts/fuzz.sh --short
#   6. end-to-end tests       make e2e (builds or reuses the cached images)
#   7. the same under load    make e2e-loaded: the fault, race, soak and
#                             hostnet tests while stress-ng keeps every core
#                             busy (scripts/under-load.sh)
#   8. a clean tree           nothing of the above wrote into the checkout
#
# It stops at the first failing step.
set -euo pipefail

cd "$(dirname "$0")/.."

step() { printf '\n==> [%4ds] %s\n' "$SECONDS" "$*"; }

[ "$(id -u)" -eq 0 ] || { echo "ci: must run as root (dependencies, e2e boots)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# What git sees before anything runs; step 8 wants the same after.
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

step "end-to-end tests"
make -s e2e

step "end-to-end tests under load (stress-ng on every core)"
make -s e2e-loaded

step "the checkout is as it was (no test wrote into the source tree)"
after=$(tree_state)
if [ "$after" != "$before" ]; then
	echo "ci: the run changed the checkout:" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	exit 1
fi
