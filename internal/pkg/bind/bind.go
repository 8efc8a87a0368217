// Package bind parses the user's bind requests, as given to --bind/-B or
// in APPTAINER_BIND, into source/destination pairs. It only reads strings:
// checking that sources exist and mounting them is the launcher's job.
package bind

import (
	"encoding/csv"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Spec is one bind request: Source on the host appears at Destination in
// the container, read-only if ReadOnly. Both paths are absolute and clean.
//
// An image bind (IsImage) binds a directory from inside the image file
// Source instead: ImageSrc within its file system, which is a SIF's
// partition ID when ID is set, else its first data partition, or the
// whole file for a squashfs or ext3 image.
type Spec struct {
	Source      string
	Destination string
	ReadOnly    bool
	// ImageSrc is the absolute, clean path inside the image ("/" when
	// only ID is given); empty for a plain bind.
	ImageSrc string
	// ID is a SIF descriptor id, 0 for none.
	ID uint32
}

// IsImage says whether s binds from inside an image file.
func (s Spec) IsImage() bool { return s.ImageSrc != "" }

// Parse parses one --bind value. A value holds one or more specs separated
// by commas, each "src[:dst[:opts]]":
//
//   - src is a host path; a relative one is taken relative to cwd;
//   - dst is an absolute path in the container, src when left out, and
//     never the container root;
//   - opts are comma-separated: "ro" or "rw" (the default), and, for an
//     image file src, "image-src=PATH" (a directory inside it) and "id=N"
//     (a SIF partition), as upstream's.
//
// A comma followed by an option continues the options of a spec that has
// some ("img:/d:image-src=/,ro"); otherwise it starts the next spec.
// Blanks around each spec and empty specs ("a,,b", a trailing comma) are
// ignored, so a list can be written "a, b" and an empty value binds
// nothing. A path with a comma or a colon writes it "\," or "\:", as
// upstream's.
func Parse(value, cwd string) ([]Spec, error) {
	var items []string
	for _, item := range splitUnescaped(value, ',') {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case isOption(item) && len(items) > 0 && len(splitUnescaped(items[len(items)-1], ':')) == 3:
			items[len(items)-1] += "," + item
		default:
			items = append(items, item)
		}
	}
	var specs []Spec
	for _, item := range items {
		spec, err := parseOne(item, cwd)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// isOption says whether s is one of the bind options.
func isOption(s string) bool {
	return s == "ro" || s == "rw" || strings.HasPrefix(s, "image-src=") || strings.HasPrefix(s, "id=")
}

// ParseAll parses every value of a repeated --bind flag, in order.
func ParseAll(values []string, cwd string) ([]Spec, error) {
	var specs []Spec
	for _, value := range values {
		parsed, err := Parse(value, cwd)
		if err != nil {
			return nil, err
		}
		specs = append(specs, parsed...)
	}
	return specs, nil
}

// parseOne parses a single trimmed, non-empty spec.
func parseOne(item, cwd string) (Spec, error) {
	fields := splitUnescaped(item, ':')
	if len(fields) > 3 {
		return Spec{}, fmt.Errorf("invalid bind spec %q: too many fields", item)
	}

	src := fields[0]
	if src == "" {
		return Spec{}, fmt.Errorf("invalid bind spec %q: empty source", item)
	}
	if !filepath.IsAbs(src) {
		if !filepath.IsAbs(cwd) {
			return Spec{}, fmt.Errorf("invalid bind spec %q: relative source %q needs an absolute working directory, got %q", item, src, cwd)
		}
		src = filepath.Join(cwd, src)
	}
	spec := Spec{Source: filepath.Clean(src), Destination: filepath.Clean(src)}

	if len(fields) > 1 {
		dst := fields[1]
		switch {
		case dst == "":
			return Spec{}, fmt.Errorf("invalid bind spec %q: empty destination", item)
		case !filepath.IsAbs(dst):
			return Spec{}, fmt.Errorf("invalid bind spec %q: destination %q is not an absolute path", item, dst)
		}
		spec.Destination = filepath.Clean(dst)
	}
	if spec.Destination == "/" {
		return Spec{}, fmt.Errorf("invalid bind spec %q: cannot bind over the container root /", item)
	}

	if len(fields) > 2 {
		for _, opt := range strings.Split(fields[2], ",") {
			if err := spec.setOption(opt); err != nil {
				return Spec{}, fmt.Errorf("invalid bind spec %q: %w", item, err)
			}
		}
	}
	return spec, nil
}

// setOption applies one bind option to s.
func (s *Spec) setOption(opt string) error {
	name, value, _ := strings.Cut(opt, "=")
	switch {
	case opt == "ro":
		s.ReadOnly = true
	case opt == "rw":
		s.ReadOnly = false
	case name == "image-src" && value == "":
		// Upstream takes an empty value for the image's root.
		s.ImageSrc = "/"
	case name == "image-src":
		s.ImageSrc = filepath.Clean("/" + value)
	case name == "id":
		id, err := strconv.ParseUint(value, 10, 32)
		if err != nil || id == 0 {
			return fmt.Errorf("bind option id=%q: the id must be a SIF descriptor number greater than 0", value)
		}
		s.ID = uint32(id)
		if s.ImageSrc == "" {
			s.ImageSrc = "/"
		}
	default:
		return fmt.Errorf("bind option %q is not supported (want ro, rw, image-src=PATH or id=N)", opt)
	}
	return nil
}

// ParseMount parses one --mount value, docker's syntax as upstream takes
// it: comma-separated key=value fields, CSV-quoted where a value holds a
// comma: "type=bind,source=/opt,destination=/hostopt,readonly", and
// upstream's image-src=PATH and id=N for an image bind. Only bind mounts
// exist here; bind-propagation may be given as rprivate or private,
// which is what every bind of the container is.
func ParseMount(value, cwd string) (Spec, error) {
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return Spec{}, fmt.Errorf("invalid mount spec %q: %w", value, err)
	}
	var typ, src, dst string
	ro := false
	var imageOpts []string
	for _, f := range fields {
		k, v, hasValue := strings.Cut(strings.TrimSpace(f), "=")
		switch strings.ToLower(k) {
		case "type":
			typ = v
		case "source", "src":
			src = v
		case "destination", "dst", "target":
			dst = v
		case "readonly", "ro":
			switch {
			case !hasValue || v == "true" || v == "1":
				ro = true
			case v == "false" || v == "0":
				ro = false
			default:
				return Spec{}, fmt.Errorf("invalid mount spec %q: %s=%q: want true or false", value, k, v)
			}
		case "image-src", "id":
			// An image bind, as --bind's options of the same names.
			if v == "" {
				return Spec{}, fmt.Errorf("invalid mount spec %q: %s cannot be empty", value, k)
			}
			if strings.ContainsAny(v, ",:") {
				return Spec{}, fmt.Errorf("invalid mount spec %q: a path with a comma or colon is not supported in %s", value, k)
			}
			imageOpts = append(imageOpts, strings.ToLower(k)+"="+v)
		case "bind-propagation":
			if v != "rprivate" && v != "private" {
				return Spec{}, fmt.Errorf("invalid mount spec %q: bind-propagation %q is not supported (binds are private)", value, v)
			}
		default:
			return Spec{}, fmt.Errorf("invalid mount spec %q: unknown field %q", value, k)
		}
	}
	switch {
	case typ != "bind":
		return Spec{}, fmt.Errorf("invalid mount spec %q: type %q is not supported (want type=bind)", value, typ)
	case src == "" || dst == "":
		return Spec{}, fmt.Errorf("invalid mount spec %q: want a source and a destination", value)
	case strings.Contains(src, ":") || strings.Contains(dst, ":"):
		return Spec{}, fmt.Errorf("invalid mount spec %q: a path with a colon is not supported", value)
	}
	opts := imageOpts
	if ro {
		opts = append(opts, "ro")
	}
	item := src + ":" + dst
	if len(opts) > 0 {
		item += ":" + strings.Join(opts, ",")
	}
	return parseOne(item, cwd)
}

// splitUnescaped splits s at each sep not escaped with a backslash; "\sep"
// becomes sep, and any other backslash stays, so that the escapes of
// another separator survive for a later split.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == sep:
			cur.WriteByte(sep)
			i++
		case s[i] == sep:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(parts, cur.String())
}
