package imageaudit

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/hostnet/policy"
)

//go:generate go run ./internal/genkit ../../../etc/network-overrides

const (
	// MarkerPath is the file whose presence tells the image's systemd that it
	// shares the host's network namespace. The runtime creates it for
	// --boot-hostnet instances; /run/host is where systemd's container
	// interface puts what the container manager hands to the container.
	MarkerPath = "/run/host/hostnet"

	// DropInName is the file name of every drop-in of the kit. Drop-ins apply
	// in name order; 50 leaves room for an admin's own before and after it.
	DropInName = "50-apptainer-hostnet.conf"

	// udevOverride replaces the udev rules file that applies .link files
	// (renaming links and changing their settings).
	udevOverride = "etc/udev/rules.d/80-net-setup-link.rules"

	// kitHeader starts every generated file.
	kitHeader = "# Part of the Apptainer network-overrides kit. Generated from the curated\n" +
		"# unit list by `go generate ./internal/pkg/imageaudit`; do not edit.\n"
)

// KitFile is one file of the network-overrides kit.
type KitFile struct {
	Path    string // relative to the image root, e.g. "etc/systemd/system/x.service.d/50-apptainer-hostnet.conf"
	Content []byte
}

// KitFiles returns the kit, generated from the curated unit list: one
// drop-in per unit and the udev override. The same files are shipped in
// etc/network-overrides and written by Harden.
func KitFiles() []KitFile {
	var out []KitFile
	for _, u := range policy.DefaultMaskedUnits() {
		out = append(out, dropInFile(u, policy.MaskReason(u)))
	}
	return append(out, KitFile{Path: udevOverride, Content: udevOverrideContent()})
}

// dropInFile builds the kit's drop-in for one unit. why may be empty for a
// unit that is not on the curated list (Harden guards those too when the
// audit finds them).
func dropInFile(unit, why string) KitFile {
	var b bytes.Buffer
	b.WriteString(kitHeader)
	b.WriteString("#\n")
	if why != "" {
		fmt.Fprintf(&b, "# %s: %s.\n#\n", unit, why)
	}
	b.WriteString("# When the container shares the host's network namespace the runtime creates\n")
	fmt.Fprintf(&b, "# %s, and the condition below makes systemd skip this unit (and\n", MarkerPath)
	b.WriteString("# leave whatever wants it alone) instead of letting it reconfigure the host.\n")
	b.WriteString("# Without that file the condition holds and the unit starts as usual, so the\n")
	b.WriteString("# image still boots normally in a network namespace of its own.\n")
	switch {
	case strings.HasSuffix(unit, ".socket"):
		b.WriteString("# A condition on the service alone would not stop systemd from listening on\n")
		b.WriteString("# this socket and trying to activate the service, so the socket carries it too.\n")
	case strings.Contains(unit, "@."):
		b.WriteString("# This is a template: the drop-in applies to every instance of it.\n")
	}
	b.WriteString("[Unit]\n")
	fmt.Fprintf(&b, "ConditionPathExists=!%s\n", MarkerPath)
	return KitFile{Path: strings.TrimPrefix(dropInPath(unit), "/"), Content: b.Bytes()}
}

// udevOverrideContent is a rules file without rules. It shadows the file of
// the same name in /usr/lib/udev/rules.d, the only place that calls udev's
// net_setup_link builtin, so udev in the image neither renames network
// links nor applies .link files to them.
func udevOverrideContent() []byte {
	var b bytes.Buffer
	b.WriteString(kitHeader)
	b.WriteString("#\n")
	b.WriteString("# A file in /etc/udev/rules.d hides the file of the same name in\n")
	b.WriteString("# /usr/lib/udev/rules.d and /lib/udev/rules.d. The one shipped there imports\n")
	b.WriteString("# the net_setup_link builtin, which applies .link files to network\n")
	b.WriteString("# interfaces: it renames them (predictable names) and changes their MTU, MAC\n")
	b.WriteString("# address and offloads. This file has no rules, so udev in this image never\n")
	b.WriteString("# does either, whether or not systemd-udevd is skipped by its drop-in.\n")
	b.WriteString("#\n")
	b.WriteString("# Container links are named by the runtime and udevd does not run in\n")
	b.WriteString("# containers, so a normal boot with a network namespace of its own is not\n")
	b.WriteString("# affected. Remove this file if the same tree is also booted on hardware or\n")
	b.WriteString("# in a VM and should keep predictable interface names there.\n")
	return b.Bytes()
}

// README markers delimit the generated unit table in etc/network-overrides/README.md.
const (
	readmeBegin = "<!-- BEGIN GENERATED UNIT TABLE (go generate ./internal/pkg/imageaudit) -->"
	readmeEnd   = "<!-- END GENERATED UNIT TABLE -->"
)

// readmeTable renders the curated list as the README's Markdown table.
func readmeTable() string {
	var b strings.Builder
	b.WriteString("| unit | drop-in | what it would do on the host network |\n")
	b.WriteString("|---|---|---|\n")
	for _, u := range policy.DefaultMaskedUnits() {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", u, strings.TrimPrefix(dropInPath(u), "/"), policy.MaskReason(u))
	}
	return b.String()
}

// spliceReadme replaces the generated table in a README; ok is false when
// the markers are missing or out of order.
func spliceReadme(readme []byte) (out []byte, ok bool) {
	s := string(readme)
	i := strings.Index(s, readmeBegin)
	j := strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		return nil, false
	}
	return []byte(s[:i+len(readmeBegin)] + "\n" + readmeTable() + s[j:]), true
}
