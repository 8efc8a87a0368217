# mk/build.mk: the rules of a build directory. ./mconfig writes
# BUILDDIR/config.mk (paths, version, go) and a BUILDDIR/Makefile that
# includes it and then this file; nothing here is meant to be run directly.
#
# The go tool keeps its own build cache and knows what is out of date, so
# the Go targets always run and let it decide (FORCE).

ifeq ($(SRCDIR),)
$(error run ./mconfig, then make -C BUILDDIR; this file is not used on its own)
endif

BUILDCFG := github.com/apptainer/apptainer/internal/pkg/buildcfg

# The install paths are compiled in: the binary finds its configuration
# where `make install` puts it.
LDFLAGS := \
	-X $(BUILDCFG).Version=$(VERSION) \
	-X $(BUILDCFG).Prefix=$(PREFIX) \
	-X $(BUILDCFG).BinDir=$(BINDIR) \
	-X $(BUILDCFG).SysConfDir=$(SYSCONFDIR) \
	-X $(BUILDCFG).LocalStateDir=$(LOCALSTATEDIR) \
	-X $(BUILDCFG).LibExecDir=$(LIBEXECDIR)

# Both Go binaries are pure Go and static: quick to start, nothing to
# resolve at run time. The one piece of C, apptainer-nsenter, is its own
# small static program (Go cannot enter a mount or PID namespace).
export CGO_ENABLED := 0
CC     ?= cc
CFLAGS ?= -O2
NSENTER_CFLAGS := -Wall -Werror -static
# libseccomp compiles the seccomp filters of booted instances (static
# library from Debian's libseccomp-dev).
NSENTER_LIBS := -lseccomp
# -trimpath: no build machine paths in the binary, so builds reproduce.
GOBUILDFLAGS := -trimpath -ldflags "$(LDFLAGS)"

CONFDIR       := $(SYSCONFDIR)/apptainer
# The files of CONFDIR upstream installs, from etc/ (network/*.conflist
# come on top). Which ones this build reads is in docs/configuration.md;
# the others say "not used by this build" at their top.
CONFFILES     := apptainer.conf capability.json ecl.toml nvliblist.conf \
                 rocmliblist.conf remote.yaml global-pgp-public
COMPLETIONDIR := $(DATADIR)/bash-completion/completions
# Older build directories were configured before mconfig knew the unit dir.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# The host unit template, and the folder of its per-instance files.
UNIT          := apptainer-instance@.service
INSTANCECONFDIR := $(CONFDIR)/instances
INSTALL       := install

# Extra `go test` flags, e.g. make e2e E2E_TESTFLAGS='-run TestBoot -v'.
TESTFLAGS     ?=
E2E_TESTFLAGS ?=

.PHONY: all docs install uninstall test e2e e2e-loaded e2e-root clean FORCE
.DEFAULT_GOAL := all

ENGINEDIR := $(LIBEXECDIR)/apptainer/bin

all: $(BUILDDIR)/apptainer $(BUILDDIR)/apptainer-engine $(BUILDDIR)/apptainer-nsenter docs

$(BUILDDIR)/apptainer: FORCE
	@echo " GO      $@"
	cd $(SRCDIR) && $(GO) build $(GOBUILDFLAGS) -o $@ ./cmd/apptainer

# The helpers are found next to the CLI in the build directory, and in
# ENGINEDIR when installed (internal/pkg/runtime/engine/binary_linux.go).
$(BUILDDIR)/apptainer-engine: FORCE
	@echo " GO      $@"
	cd $(SRCDIR) && $(GO) build $(GOBUILDFLAGS) -o $@ ./cmd/apptainer-engine

$(BUILDDIR)/apptainer-nsenter: $(SRCDIR)/cmd/apptainer-nsenter/main.c
	@echo " CC      $@"
	$(CC) $(CFLAGS) $(NSENTER_CFLAGS) -o $@ $< $(NSENTER_LIBS)

# Man pages and completion come from the same command tree as the binary.
# The man folder is made afresh so a removed command leaves no page.
docs: FORCE
	@echo " DOCS    $(BUILDDIR)/man $(BUILDDIR)/bash-completion/apptainer"
	rm -rf $(BUILDDIR)/man
	cd $(SRCDIR) && $(GO) run $(GOBUILDFLAGS) ./cmd/docgen \
		-man $(BUILDDIR)/man -completion $(BUILDDIR)/bash-completion/apptainer

# The network-overrides tree is ours and generated as a whole: it is
# replaced, so a drop-in removed from the source does not live on; cp -P
# keeps mask symlinks (to /dev/null) as symlinks.
install: all
	@echo " INSTALL $(DESTDIR)$(BINDIR)/apptainer"
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(BUILDDIR)/apptainer $(DESTDIR)$(BINDIR)/apptainer
	@# Upstream installs singularity as a link to apptainer, for old scripts.
	ln -sfn apptainer $(DESTDIR)$(BINDIR)/singularity
	@echo " INSTALL $(DESTDIR)$(ENGINEDIR)/apptainer-engine $(DESTDIR)$(ENGINEDIR)/apptainer-nsenter"
	$(INSTALL) -d $(DESTDIR)$(ENGINEDIR)
	$(INSTALL) -m 0755 $(BUILDDIR)/apptainer-engine $(DESTDIR)$(ENGINEDIR)/apptainer-engine
	$(INSTALL) -m 0755 $(BUILDDIR)/apptainer-nsenter $(DESTDIR)$(ENGINEDIR)/apptainer-nsenter
	@echo " INSTALL $(DESTDIR)$(CONFDIR)"
	$(INSTALL) -d $(DESTDIR)$(CONFDIR) $(DESTDIR)$(CONFDIR)/network
	@# An administrator's file is never overwritten: one that differs
	@# stays, and this build's default goes next to it as FILE.new.
	for f in $(CONFFILES); do \
		$(SRCDIR)/scripts/install-config.sh $(SRCDIR)/etc/$$f $(DESTDIR)$(CONFDIR)/$$f || exit 1; \
	done
	for f in $(notdir $(wildcard $(SRCDIR)/etc/network/*.conflist)); do \
		$(SRCDIR)/scripts/install-config.sh $(SRCDIR)/etc/network/$$f $(DESTDIR)$(CONFDIR)/network/$$f || exit 1; \
	done
	if [ -d $(SRCDIR)/etc/network-overrides ]; then \
		rm -rf $(DESTDIR)$(CONFDIR)/network-overrides && \
		cp -R -P $(SRCDIR)/etc/network-overrides $(DESTDIR)$(CONFDIR)/network-overrides && \
		chmod -R u=rwX,go=rX $(DESTDIR)$(CONFDIR)/network-overrides; \
	fi
	@# The session mount point: root creates it on first use, ordinary
	@# users cannot (their containers need it).
	$(INSTALL) -d -m 0755 $(DESTDIR)$(LOCALSTATEDIR)/apptainer/mnt/session
	@echo " INSTALL $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPLETIONDIR)/apptainer"
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPLETIONDIR)
	$(INSTALL) -m 0644 $(BUILDDIR)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	@# The singularity alias gets its page too (man singularity).
	ln -sfn apptainer.1 $(DESTDIR)$(MANDIR)/man1/singularity.1
	$(INSTALL) -m 0644 $(BUILDDIR)/bash-completion/apptainer $(DESTDIR)$(COMPLETIONDIR)/apptainer
	@echo " INSTALL $(DESTDIR)$(SYSTEMDUNITDIR)/$(UNIT) $(DESTDIR)$(INSTANCECONFDIR)"
	@# The unit names the installed paths; it is ours and replaced (admins
	@# change it with drop-ins). The instance files are the admin's.
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		$(SRCDIR)/etc/systemd/$(UNIT).in >$(BUILDDIR)/$(UNIT)
	$(INSTALL) -m 0644 $(BUILDDIR)/$(UNIT) $(DESTDIR)$(SYSTEMDUNITDIR)/$(UNIT)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(INSTANCECONFDIR)

# Configuration (CONFFILES, network/*.conflist, and any FILE.new next to
# them) is the admin's and stays.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/apptainer $(DESTDIR)$(COMPLETIONDIR)/apptainer
	if [ "$$(readlink $(DESTDIR)$(BINDIR)/singularity)" = apptainer ]; then rm -f $(DESTDIR)$(BINDIR)/singularity; fi
	rm -f $(DESTDIR)$(ENGINEDIR)/apptainer-engine $(DESTDIR)$(ENGINEDIR)/apptainer-nsenter
	-rmdir $(DESTDIR)$(ENGINEDIR) $(DESTDIR)$(LIBEXECDIR)/apptainer 2>/dev/null
	rm -f $(DESTDIR)$(MANDIR)/man1/apptainer.1 $(DESTDIR)$(MANDIR)/man1/apptainer-*.1
	if [ "$$(readlink $(DESTDIR)$(MANDIR)/man1/singularity.1)" = apptainer.1 ]; then rm -f $(DESTDIR)$(MANDIR)/man1/singularity.1; fi
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$(UNIT)
	rm -rf $(DESTDIR)$(CONFDIR)/network-overrides
	@echo "kept $(DESTDIR)$(CONFDIR): remove it by hand if it is no longer wanted"

test:
	cd $(SRCDIR) && $(GO) test $(TESTFLAGS) ./...

# The e2e tests boot real instances of the cached Debian image, whose root
# filesystem they get through the environment; they build their own binary
# with paths pointing at their scratch configuration.
# The package install test gets the .debs its image lacks from
# scripts/e2e-debs.sh here, where the network is (the tests have none); it
# builds the .deb itself unless APPTAINER_E2E_DEB names one (CI passes make
# deb's).
e2e: e2e-root $(BUILDDIR)/apptainer $(BUILDDIR)/apptainer-engine $(BUILDDIR)/apptainer-nsenter
	cd $(SRCDIR) && rootfs=$$(scripts/e2e-image.sh) && \
		sysvinit=$$(scripts/e2e-image.sh --recipe sysvinit) && \
		example=$$(scripts/e2e-example.sh $(BUILDDIR)/apptainer | tail -n 1) && \
		debdeps=$$(scripts/e2e-debs.sh "$$rootfs" | tail -n 1) && \
		slurm=$$(scripts/e2e-example.sh $(BUILDDIR)/apptainer examples/slurm/slurm.def | tail -n 1) && \
		APPTAINER_E2E_ROOTFS=$$rootfs APPTAINER_E2E_SYSVINIT_ROOTFS=$$sysvinit \
		APPTAINER_E2E_EXAMPLE_SIF=$$example APPTAINER_E2E_DEB_DEPS=$$debdeps \
		APPTAINER_E2E_SLURM_SIF=$$slurm \
		$(GO) test -tags e2e -count=1 -timeout 60m $(E2E_TESTFLAGS) ./e2e/...

# The tests most sensitive to timing on a loaded machine: the faults, the
# races (TestInstance*), the soak (its usual 30 cycles, APPTAINER_SOAK_CYCLES)
# and the boots, hostnet ones included. scripts/under-load.sh keeps every
# core busy with stress-ng from before the tests until after them; the
# image is made or checked before the load starts. On the 2-core reference
# VM this takes about as long as make e2e.
E2E_LOADED_RUN ?= ^(TestFault|TestInstance|TestSoak|TestBoot|TestNetworkOverridesKit)

e2e-loaded: e2e-root $(BUILDDIR)/apptainer $(BUILDDIR)/apptainer-engine $(BUILDDIR)/apptainer-nsenter
	cd $(SRCDIR) && rootfs=$$(scripts/e2e-image.sh) && \
		sysvinit=$$(scripts/e2e-image.sh --recipe sysvinit) && \
		APPTAINER_E2E_ROOTFS=$$rootfs APPTAINER_E2E_SYSVINIT_ROOTFS=$$sysvinit \
		scripts/under-load.sh $(GO) test -tags e2e -count=1 -timeout 60m \
		-run '$(E2E_LOADED_RUN)' $(E2E_TESTFLAGS) ./e2e/...

e2e-root:
	@test "$$(id -u)" -eq 0 || \
		{ echo "make e2e: the end-to-end tests boot containers and must run as root" >&2; exit 1; }

clean:
	rm -rf $(BUILDDIR)/apptainer $(BUILDDIR)/apptainer-engine $(BUILDDIR)/apptainer-nsenter $(BUILDDIR)/man $(BUILDDIR)/bash-completion $(BUILDDIR)/$(UNIT)

FORCE:
