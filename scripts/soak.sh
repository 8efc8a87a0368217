#!/bin/sh
# The long soak: APPTAINER_SOAK_CYCLES (default 200) start/stop cycles of
# every instance kind, with the before/after leak check (e2e/soak_test.go).
# As root; everything runs in throwaway namespaces.
set -eu
cd "$(dirname "$0")/.."
APPTAINER_SOAK_CYCLES=${APPTAINER_SOAK_CYCLES:-200}
export APPTAINER_SOAK_CYCLES
exec ${GO:-go} test -tags e2e -count=1 -timeout 4h -run '^TestSoak$' -v ./e2e/
