# Shortcuts for working in the source tree. The real build lives in a
# build directory made by ./mconfig (see mk/build.mk); `make` makes one in
# ./builddir with the default paths if there is none yet.
#
#   make           configure builddir if needed, build apptainer and its docs
#   make install   install from builddir (as root; DESTDIR is honoured)
#   make test      unit tests
#   make e2e       end-to-end tests against builddir/apptainer (as root)
#   make e2e-loaded
#                  the fault, race, soak and hostnet e2e tests while stress-ng
#                  keeps every core busy (as root; scripts/under-load.sh)
#   make check     test + e2e
#   make lint      gofmt, go vet (also with -tags e2e), shellcheck
#   make image     build or refresh the cached e2e Debian image
#   make demo      the README demo: boot on a throwaway fake host network
#   make cluster-demo
#                  a three-node Slurm cluster in --boot-hostnet instances on
#                  fake nodes: srun, sinfo, drain on stop (as root)
#   make bench     benchmarks against systemd-nspawn and the bare host (as root)
#   make deb       the Debian package, built from a copy of the tree into
#                  $(BUILDDIR)/packages (docs/packaging.md)
#   make rpm       the RPM, the same way
#   make ci        everything CI runs (scripts/ci.sh)
#   make soak      200 start/stop cycles with the leak check (as root)
#   make fuzz      every fuzz target for FUZZTIME (default 10m) in turn
#   make clean     remove what builddir holds except its configuration
#   make distclean remove builddir

BUILDDIR ?= builddir
GO       ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)

# Extra `go test` flags: make test TESTFLAGS=-v, make e2e E2E_TESTFLAGS='-run Boot'
# (also for e2e-loaded, whose own -run pattern, E2E_LOADED_RUN, is in mk/build.mk).
TESTFLAGS     ?=
E2E_TESTFLAGS ?=

SHELL_SCRIPTS := mconfig .ci/run $(wildcard scripts/*.sh)

.PHONY: all install uninstall test e2e e2e-loaded check lint image demo cluster-demo bench deb rpm ci clean distclean

all: $(BUILDDIR)/Makefile
	$(MAKE) -C $(BUILDDIR)

$(BUILDDIR)/Makefile:
	./mconfig -b $(BUILDDIR)

install: $(BUILDDIR)/Makefile
	$(MAKE) -C $(BUILDDIR) install

uninstall: $(BUILDDIR)/Makefile
	$(MAKE) -C $(BUILDDIR) uninstall

test:
	$(GO) test $(TESTFLAGS) ./...

e2e: $(BUILDDIR)/Makefile
	$(MAKE) -C $(BUILDDIR) e2e E2E_TESTFLAGS='$(E2E_TESTFLAGS)'

e2e-loaded: $(BUILDDIR)/Makefile
	$(MAKE) -C $(BUILDDIR) e2e-loaded E2E_TESTFLAGS='$(E2E_TESTFLAGS)'

check: test e2e

lint:
	@echo " GOFMT"
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then \
		echo "gofmt -l: these files need gofmt -w:" >&2; echo "$$out" >&2; exit 1; fi
	@echo " VET"
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	@# The launcher's decisions make no system call, and the CLI reaches
	@# Linux only through the engine's API: both build anywhere. cgroup and
	@# bench are Linux by nature.
	GOOS=darwin $(GO) vet $$($(GO) list ./... | grep -v -e '/internal/pkg/cgroup$$' -e '/bench$$')
	@echo " GOCYCLO"
	@# No function (tests aside) may branch more than 25 ways: split it into
	@# named steps (go.mod pins the tool).
	$(GO) tool gocyclo -over 25 -ignore '_test\.go$$' cmd internal bench
	@echo " SHELLCHECK"
	shellcheck $(SHELL_SCRIPTS)
	shellcheck -s sh internal/pkg/launcher/action.sh

image:
	scripts/e2e-image.sh --prune
	scripts/e2e-image.sh --recipe sysvinit --prune

demo:
	scripts/demo.sh

cluster-demo: all
	APPTAINER=$(abspath $(BUILDDIR))/apptainer scripts/cluster-demo.sh

# Extra bench flags, e.g. make bench BENCHFLAGS='-boots 20 -only boot'.
# Results (results.md, start-ready.svg) go to $(BUILDDIR)/bench.
BENCHFLAGS ?=

bench:
	@test "$$(id -u)" -eq 0 || \
		{ echo "make bench: the benchmarks boot containers and must run as root" >&2; exit 1; }
	rootfs=$$(scripts/e2e-image.sh) && \
		$(GO) run ./bench -image "$$rootfs" -out $(BUILDDIR)/bench $(BENCHFLAGS)

# The packages build in a temporary copy of the source tree (nothing is
# written here but $(BUILDDIR)/packages) and need no network once
# `go mod download` has run. $(BUILDDIR) is configured first, so that the
# packages folder does not make it a foreign directory to mconfig.
deb: $(BUILDDIR)/Makefile
	GO=$(GO) scripts/build-package.sh deb $(BUILDDIR)/packages

rpm: $(BUILDDIR)/Makefile
	GO=$(GO) scripts/build-package.sh rpm $(BUILDDIR)/packages

ci:
	scripts/ci.sh

soak:
	APPTAINER_SOAK_CYCLES=$${APPTAINER_SOAK_CYCLES:-200} scripts/soak.sh

FUZZTIME ?= 10m
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

clean:
	if [ -f $(BUILDDIR)/Makefile ]; then $(MAKE) -C $(BUILDDIR) clean; fi

distclean:
	rm -rf $(BUILDDIR)
