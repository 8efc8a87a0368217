#!/bin/sh
# Runs every Go fuzz target of the repository in turn, each for FUZZTIME
# (default 10m), or 100000 inputs each with --short (the CI run: a count,
# not a duration, so a loaded machine cannot turn the end of the time budget
# into a spurious "context deadline exceeded" failure). A target that
# finds a failure stops the run; its input is kept under the package's
# testdata/fuzz for a regression test.
set -eu
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10m}
if [ "${1:-}" = "--short" ]; then
	FUZZTIME=100000x
fi
GO=${GO:-go}
for pkg in $($GO list ./...); do
	for target in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($FUZZTIME)"
		$GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
	done
done
