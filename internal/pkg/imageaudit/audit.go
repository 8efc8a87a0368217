// Package imageaudit inspects a container image for everything that would
// touch the host's network if the image were booted (systemd as PID 1) in
// the host's network namespace, and applies or removes the
// network-overrides kit that keeps those units from starting.
//
// The curated unit list lives in internal/pkg/hostnet; this package turns it
// into systemd drop-ins (the kit shipped in etc/network-overrides), checks
// images against it (Audit) and installs the kit into sandboxes (Harden,
// Undo). Images are read as the booted container would see them: every path
// and every symlink is resolved inside the image root, never on the host.
package imageaudit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Severity ranks a finding.
type Severity string

const (
	// SeverityRisky: booting the image on the host network would run it.
	SeverityRisky Severity = "risky"
	// SeverityNotice: present but not started by the image on its own
	// (not enabled, or a dangling link); worth knowing, not a failure.
	SeverityNotice Severity = "notice"
)

// Kind says what a finding is about.
type Kind string

// Kinds of finding.
const (
	KindUnit           Kind = "unit"                  // a unit of the curated list
	KindNetworkUnit    Kind = "network-unit"          // an unlisted unit enabled by a network target, or a DHCP client
	KindNetworkd       Kind = "networkd-config"       // .network, .netdev or .link file
	KindIfupdown       Kind = "ifupdown-config"       // interfaces(5) stanzas
	KindNetworkManager Kind = "networkmanager-config" // connection profile
	KindSysctl         Kind = "sysctl"                // net.* settings
	KindUdev           Kind = "udev-rule"             // rules acting on network links
	KindBrokenLink     Kind = "broken-symlink"        // a link that dangles inside the image
)

// Finding is one thing in the image that would touch the host network, or
// that the audit could not follow.
type Finding struct {
	Severity Severity `json:"severity"`
	Kind     Kind     `json:"kind"`
	Subject  string   `json:"subject"`          // unit name or in-image file path
	Path     string   `json:"path,omitempty"`   // in-image file that defines a unit
	Why      string   `json:"why"`              // what it would do on the host network
	Active   []string `json:"active,omitempty"` // why it would start
	Fix      string   `json:"fix"`
}

// Neutralized is a unit of the curated list that the image already keeps
// from starting.
type Neutralized struct {
	Unit string `json:"unit"`
	How  string `json:"how"`  // "masked" or "guarded"
	Path string `json:"path"` // the mask link or the drop-in holding the condition
}

// Report is the result of an audit.
type Report struct {
	Image       string        `json:"image"`
	Risky       int           `json:"risky"`
	Notices     int           `json:"notices"`
	Findings    []Finding     `json:"findings"`
	Neutralized []Neutralized `json:"neutralized"`
}

// Clean reports whether nothing in the image would touch the host network.
func (r *Report) Clean() bool { return r.Risky == 0 }

// errSIF tells Audit that the image is a SIF file, which it reads by
// unpacking the parts that matter.
var errSIF = errors.New("image is a SIF file")

// ErrNotImage is returned for a path that is neither a sandbox directory
// nor a SIF file, or a directory without a root filesystem in it.
var ErrNotImage = errors.New("not a container image")

// sifMagic sits after the 32-byte launch script at the start of a SIF file.
var sifMagic = []byte("SIF_MAGIC")

// auditor carries the state of one audit.
type auditor struct {
	r         *imageRoot
	ix        *unitIndex
	acts      *activations
	presets   []presetRule
	firstBoot bool
	hits      []configHit
	broken    map[string]string // dangling link -> where it dangles
}

// Audit inspects the image at image (a sandbox directory or a SIF file) and
// reports what would touch the host network if it were booted on it.
func Audit(image string) (*Report, error) {
	root := image
	if err := checkImage(image); errors.Is(err, errSIF) {
		// The parts of the image that decide what boots, unpacked from its
		// squashfs partition into a scratch directory.
		tmp, err := os.MkdirTemp("", "apptainer-audit-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		root = filepath.Join(tmp, "rootfs")
		if err := extractSIF(image, root); err != nil {
			return nil, err
		}
	}
	a, err := newAuditor(root)
	if err != nil {
		return nil, err
	}
	defer a.r.Close()
	rep, err := a.run(image)
	return rep, err
}

// newAuditor opens and indexes an image.
func newAuditor(image string) (*auditor, error) {
	if err := checkImage(image); err != nil {
		return nil, err
	}
	r, err := openImageRoot(image)
	if err != nil {
		return nil, err
	}
	a := &auditor{r: r, broken: map[string]string{}}
	if err := a.load(); err != nil {
		r.Close()
		return nil, fmt.Errorf("failed to audit image %q: %w", image, err)
	}
	return a, nil
}

// checkImage tells a sandbox from a SIF file and from anything else.
func checkImage(image string) error {
	fi, err := os.Stat(image)
	if err != nil {
		return fmt.Errorf("failed to open image %q: %w", image, err)
	}
	if fi.Mode().IsRegular() {
		f, err := os.Open(image)
		if err != nil {
			return fmt.Errorf("failed to open image %q: %w", image, err)
		}
		defer f.Close()
		head := make([]byte, 32+len(sifMagic))
		if _, err := io.ReadFull(f, head); err == nil && bytes.Equal(head[32:], sifMagic) {
			return fmt.Errorf("image %q: %w", image, errSIF)
		}
		return fmt.Errorf("image %q is neither a sandbox directory nor a SIF file: %w", image, ErrNotImage)
	}
	if !fi.IsDir() {
		return fmt.Errorf("image %q is neither a sandbox directory nor a SIF file: %w", image, ErrNotImage)
	}
	for _, d := range []string{"etc", "usr"} {
		if _, err := os.Lstat(image + "/" + d); err == nil {
			return nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("failed to read image %q: %w", image, err)
		}
	}
	return fmt.Errorf("directory %q holds no root filesystem (no /etc, no /usr): %w", image, ErrNotImage)
}

// load indexes units, activation and every network configuration file.
func (a *auditor) load() error {
	var err error
	if a.ix, err = loadUnitIndex(a.r); err != nil {
		return err
	}
	if a.acts, err = a.ix.computeActivations(); err != nil {
		return err
	}
	if a.presets, err = a.r.loadPresets(); err != nil {
		return err
	}
	a.firstBoot = a.r.isFirstBoot()
	for _, scan := range []func() error{a.scanNetworkd, a.scanIfupdown, a.scanNetworkManager, a.scanSysctl, a.scanUdev} {
		if err := scan(); err != nil {
			return err
		}
	}
	return nil
}

// noteBroken records a dangling link once.
func (a *auditor) noteBroken(p, dest string) { a.broken[p] = dest }

// run turns the indexed image into a report.
func (a *auditor) run(image string) (*Report, error) {
	rep := &Report{Image: image, Findings: []Finding{}, Neutralized: []Neutralized{}}
	if err := a.unitFindings(rep); err != nil {
		return nil, fmt.Errorf("failed to audit image %q: %w", image, err)
	}
	for _, h := range a.hits {
		sev, consumer := a.consumerSeverity(h.Consumers)
		if sev != SeverityRisky {
			continue
		}
		rep.Findings = append(rep.Findings, Finding{
			Severity: sev, Kind: h.Kind, Subject: h.Path, Why: h.Why,
			Active: []string{"read by " + consumer + ", which would start"},
			Fix:    fmt.Sprintf("harmless once %s cannot start: run `apptainer hostnet harden` on the sandbox; or delete the file from the image", consumer),
		})
	}
	for _, l := range a.ix.links {
		if l.Entry.State == pathBroken {
			a.noteBroken(l.Entry.Path, l.Entry.Dest)
		}
	}
	for _, e := range a.ix.entries {
		if e.State == pathBroken {
			a.noteBroken(e.Path, e.Dest)
		}
	}
	for p, dest := range a.broken {
		rep.Findings = append(rep.Findings, Finding{
			Severity: SeverityNotice, Kind: KindBrokenLink, Subject: p,
			Why: fmt.Sprintf("the link dangles at %s inside the image (links are resolved inside the image, never on the host); systemd ignores it", dest),
			Fix: "remove the link or restore its target",
		})
	}
	sortFindings(rep.Findings)
	sort.Slice(rep.Neutralized, func(i, j int) bool { return rep.Neutralized[i].Unit < rep.Neutralized[j].Unit })
	for _, f := range rep.Findings {
		if f.Severity == SeverityRisky {
			rep.Risky++
		} else {
			rep.Notices++
		}
	}
	return rep, nil
}

// kindOrder sorts findings so units come before the files they read.
var kindOrder = map[Kind]int{
	KindUnit: 0, KindNetworkUnit: 1, KindNetworkd: 2, KindIfupdown: 3,
	KindNetworkManager: 4, KindSysctl: 5, KindUdev: 6, KindBrokenLink: 7,
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity == SeverityRisky
		}
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		return a.Subject < b.Subject
	})
}
