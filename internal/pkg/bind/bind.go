// Package bind parses the user's bind requests, as given to --bind/-B or
// in APPTAINER_BIND, into source/destination pairs. It only reads strings:
// checking that sources exist and mounting them is the launcher's job.
package bind

import (
	"encoding/csv"
	"fmt"
	"path/filepath"
	"strings"
)

// Spec is one bind request: Source on the host appears at Destination in
// the container, read-only if ReadOnly. Both paths are absolute and clean.
type Spec struct {
	Source      string
	Destination string
	ReadOnly    bool
}

// Parse parses one --bind value. A value holds one or more specs separated
// by commas, each "src[:dst[:opts]]":
//
//   - src is a host path; a relative one is taken relative to cwd;
//   - dst is an absolute path in the container, src when left out, and
//     never the container root;
//   - opts is "ro" or "rw" (the default).
//
// Blanks around each spec and empty specs ("a,,b", a trailing comma) are
// ignored, so a list can be written "a, b" and an empty value binds
// nothing. A path with a comma or a colon writes it "\," or "\:", as
// upstream's.
func Parse(value, cwd string) ([]Spec, error) {
	var specs []Spec
	for _, item := range splitUnescaped(value, ',') {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		spec, err := parseOne(item, cwd)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil
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
		switch opt := fields[2]; opt {
		case "ro":
			spec.ReadOnly = true
		case "rw":
		default:
			return Spec{}, fmt.Errorf("bind option %q in %q is not supported (want ro or rw)", opt, item)
		}
	}
	return spec, nil
}

// ParseMount parses one --mount value, docker's syntax as upstream takes
// it: comma-separated key=value fields, CSV-quoted where a value holds a
// comma: "type=bind,source=/opt,destination=/hostopt,readonly". Only bind
// mounts exist here; bind-propagation may be given as rprivate or private,
// which is what every bind of the container is.
func ParseMount(value, cwd string) (Spec, error) {
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return Spec{}, fmt.Errorf("invalid mount spec %q: %w", value, err)
	}
	var typ, src, dst string
	ro := false
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
	item := src + ":" + dst
	if ro {
		item += ":ro"
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
