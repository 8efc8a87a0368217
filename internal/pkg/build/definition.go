// Package build turns a definition file, a sandbox directory or a SIF into
// a new image: a sandbox directory or a SIF holding the definition, the
// labels and a squashfs root file system.
//
// definition.go parses definition files; builder.go runs the stages;
// rootfs.go holds the steps that touch the new root file system.
package build

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/ociimage"
)

// Bootstrap agents this builder knows.
const (
	BootstrapDebootstrap = "debootstrap"
	BootstrapLocalImage  = "localimage"
	// BootstrapORAS starts from a SIF stored in a registry as an ORAS
	// artifact; From: is HOST[:PORT]/NAME[:TAG], as upstream.
	BootstrapORAS = "oras"
)

// agents are the bootstrap agents this builder knows, for messages.
var agents = []string{BootstrapDebootstrap, BootstrapLocalImage, ociimage.TransportDocker, ociimage.TransportDockerArchive, ociimage.TransportOCI, ociimage.TransportOCIArchive, BootstrapORAS}

// headerKeys are the header keywords accepted, lower-cased. Keys of other
// bootstrap agents are refused rather than silently ignored.
var headerKeys = []string{"bootstrap", "from", "osversion", "mirrorurl", "include", "registry", "namespace"}

// unsupportedAgents are upstream's other bootstrap agents: refused with
// upstream's name for them rather than as unknown.
var unsupportedAgents = []string{"library", "shub", "docker-daemon", "yum", "zypper", "busybox", "arch", "scratch"}

// SectionNames are the sections a definition may have, in build order.
var SectionNames = []string{"setup", "files", "post", "environment", "runscript", "startscript", "test", "labels", "help"}

// Section is one %name block of a definition.
type Section struct {
	Name string
	// Args is the rest of the %name line (e.g. "-c /bin/bash").
	Args string
	// Body is the text up to the next section, as written.
	Body string
	// Line is the line number of the %name line.
	Line int
}

// Definition is a parsed definition file.
type Definition struct {
	// Header maps lower-cased header keywords to their values.
	Header map[string]string
	// Sections in file order, at most one per name.
	Sections []Section
	// Raw is the file as read, stored in the image.
	Raw []byte
	// Apps are the SCIF apps, in the order they first appear.
	Apps []App
}

// ParseError names the line and section of a definition problem.
type ParseError struct {
	Line    int
	Section string // "header" before the first section
	Msg     string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("definition file line %d (%s): %s", e.Line, e.Section, e.Msg)
}

// sectionLine matches "%name" and "%name args" at the start of a line.
var sectionLine = regexp.MustCompile(`^%([A-Za-z]\w*)(?:\s+(.*))?$`)

// Parse reads a definition file.
func Parse(r io.Reader) (*Definition, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("failed to read definition file: %w", err)
	}
	d := &Definition{Header: map[string]string{}, Raw: raw}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	var cur *Section
	var body strings.Builder
	flush := func() {
		if cur != nil {
			cur.Body = body.String()
			if slices.Contains(AppSectionNames, cur.Name) {
				d.addAppSection(*cur)
			} else {
				d.Sections = append(d.Sections, *cur)
			}
		}
		body.Reset()
	}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if m := sectionLine.FindStringSubmatch(strings.TrimRight(line, " \t\r")); m != nil {
			name := strings.ToLower(m[1])
			where := "header"
			if cur != nil {
				where = "%" + cur.Name
			}
			args := strings.TrimSpace(m[2])
			if slices.Contains(AppSectionNames, name) {
				if err := d.checkAppSection(name, args, n, cur); err != nil {
					return nil, err
				}
				flush()
				cur = &Section{Name: name, Args: args, Line: n}
				continue
			}
			if !slices.Contains(SectionNames, name) {
				return nil, &ParseError{n, where, fmt.Sprintf("unknown section %%%s (want one of %%%s, or an app section %%%s NAME)", m[1], strings.Join(SectionNames, ", %"), strings.Join(AppSectionNames, ", %"))}
			}
			if _, dup := d.Section(name); dup || (cur != nil && cur.Name == name) {
				return nil, &ParseError{n, "%" + name, fmt.Sprintf("section %%%s appears twice", name)}
			}
			flush()
			cur = &Section{Name: name, Args: args, Line: n}
			continue
		}
		if cur != nil {
			body.WriteString(line)
			body.WriteByte('\n')
			continue
		}
		if err := d.headerLine(line, n); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{n + 1, "header", err.Error()}
	}
	flush()
	return d, d.check()
}

// headerLine reads one "Key: value" line before the first section.
func (d *Definition) headerLine(line string, n int) error {
	t := strings.TrimSpace(line)
	if t == "" || strings.HasPrefix(t, "#") {
		return nil
	}
	key, val, ok := strings.Cut(t, ":")
	key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
	if !ok || key == "" || strings.ContainsAny(key, " \t") {
		return &ParseError{n, "header", fmt.Sprintf("invalid header line %q: want \"Keyword: value\"", t)}
	}
	if !slices.Contains(headerKeys, key) {
		return &ParseError{n, "header", fmt.Sprintf("unknown header keyword %q", strings.TrimSpace(strings.SplitN(t, ":", 2)[0]))}
	}
	if _, dup := d.Header[key]; dup {
		return &ParseError{n, "header", fmt.Sprintf("header keyword %q given twice", key)}
	}
	if key == "bootstrap" && len(d.Header) > 0 {
		return &ParseError{n, "header", "Bootstrap must be the first header keyword"}
	}
	if key != "bootstrap" && len(d.Header) == 0 {
		return &ParseError{n, "header", fmt.Sprintf("%q before Bootstrap: the header must start with \"Bootstrap:\"", key)}
	}
	if val == "" {
		return &ParseError{n, "header", fmt.Sprintf("header keyword %q has no value", key)}
	}
	d.Header[key] = val
	return nil
}

// check validates the header as a whole and the line-based sections.
func (d *Definition) check() error {
	switch b := d.Header["bootstrap"]; b {
	case "":
		return &ParseError{1, "header", "no \"Bootstrap:\" header: a definition must say how to bootstrap"}
	case BootstrapDebootstrap:
		for _, k := range []string{"osversion", "mirrorurl"} {
			if d.Header[k] == "" {
				return &ParseError{1, "header", fmt.Sprintf("Bootstrap: debootstrap needs %q", k)}
			}
		}
	case BootstrapLocalImage, BootstrapORAS, ociimage.TransportDocker, ociimage.TransportDockerArchive, ociimage.TransportOCI, ociimage.TransportOCIArchive:
		if d.Header["from"] == "" {
			return &ParseError{1, "header", fmt.Sprintf("Bootstrap: %s needs \"From:\"", b)}
		}
	default:
		if slices.Contains(unsupportedAgents, b) {
			return &ParseError{1, "header", fmt.Sprintf("Bootstrap: %s is not supported by this build (want %s)", b, strings.Join(agents, ", "))}
		}
		return &ParseError{1, "header", fmt.Sprintf("unsupported bootstrap agent %q (want %s)", b, strings.Join(agents, ", "))}
	}
	if (d.Header["registry"] != "" || d.Header["namespace"] != "") && d.Header["bootstrap"] != ociimage.TransportDocker {
		return &ParseError{1, "header", "Registry: and Namespace: apply to Bootstrap: docker only"}
	}
	if s, ok := d.Section("files"); ok {
		if s.Args != "" {
			return &ParseError{s.Line, "%files", fmt.Sprintf("%%files %s: copying from another stage is not supported", s.Args)}
		}
		if _, err := d.Files(); err != nil {
			return err
		}
	}
	if _, err := d.Labels(); err != nil {
		return err
	}
	return nil
}

// Section returns the named section.
func (d *Definition) Section(name string) (Section, bool) {
	for _, s := range d.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// Body returns the named section's text, "" if absent.
func (d *Definition) Body(name string) string {
	s, _ := d.Section(name)
	return s.Body
}

// FileCopy is one %files line: Src on the host, Dst in the image.
type FileCopy struct{ Src, Dst string }

// Files parses %files: "src [dst]" per line, comments and blanks skipped.
func (d *Definition) Files() ([]FileCopy, error) {
	s, _ := d.Section("files")
	return filesOf(s)
}

// filesOf parses a %files or %appfiles section.
func filesOf(s Section) ([]FileCopy, error) {
	var out []FileCopy
	err := eachLineOf(s, func(n int, f []string) error {
		if len(f) > 2 {
			return &ParseError{n, "%" + s.Name, fmt.Sprintf("want \"source [destination]\", got %d fields", len(f))}
		}
		c := FileCopy{Src: f[0], Dst: f[0]}
		if len(f) == 2 {
			c.Dst = f[1]
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// Label is one %labels line.
type Label struct{ Key, Value string }

// Labels parses %labels: "KEY value..." per line, in order.
func (d *Definition) Labels() ([]Label, error) {
	s, _ := d.Section("labels")
	return labelsOf(s)
}

// labelsOf parses a %labels or %applabels section.
func labelsOf(s Section) ([]Label, error) {
	var out []Label
	err := eachLineOf(s, func(n int, f []string) error {
		l := Label{Key: f[0]}
		if len(f) > 1 {
			l.Value = strings.Join(f[1:], " ")
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// eachLine calls fn with the fields of each non-blank, non-comment line of
// a section and its line number in the file.
func (d *Definition) eachLine(name string, fn func(line int, fields []string) error) error {
	s, ok := d.Section(name)
	if !ok {
		return nil
	}
	return eachLineOf(s, fn)
}

// eachLineOf is eachLine for a section in hand.
func eachLineOf(s Section, fn func(line int, fields []string) error) error {
	for i, line := range strings.Split(s.Body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if err := fn(s.Line+1+i, strings.Fields(t)); err != nil {
			return err
		}
	}
	return nil
}
