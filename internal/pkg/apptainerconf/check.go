package apptainerconf

import "strings"

// absolutePath accepts a path starting with "/". A relative path would be
// resolved against the caller's working directory, which in a setuid
// installation the user chooses: a relative "cni plugin path" would let
// them pick the programs run as root.
func absolutePath(v string) error {
	if !strings.HasPrefix(v, "/") {
		return &badValue{want: "an absolute path", entry: v}
	}
	return nil
}

// bindSpec accepts "source", "source:destination" or
// "source:destination:options" with absolute source and destination.
func bindSpec(v string) error {
	src, rest, hasDest := strings.Cut(v, ":")
	dst, _, _ := strings.Cut(rest, ":")
	if !strings.HasPrefix(src, "/") || (hasDest && !strings.HasPrefix(dst, "/")) {
		return &badValue{want: "an absolute path, or source:destination with absolute paths", entry: v}
	}
	return nil
}

// unitSuffixes are the systemd unit types that can be masked.
var unitSuffixes = []string{
	".service", ".socket", ".target", ".device", ".mount", ".automount",
	".swap", ".timer", ".path", ".slice", ".scope",
}

// unitName accepts a systemd unit name such as "foo.service" or the
// template "ifup@.service". The names end up on init's command line as
// systemd.mask= arguments, so anything outside systemd's own alphabet
// (blanks, quotes, "=") is refused rather than passed on.
func unitName(v string) error {
	bad := &badValue{want: "systemd unit names such as foo.service", entry: v}
	if len(v) > 255 {
		return bad
	}
	for _, r := range v {
		isAlnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !isAlnum && !strings.ContainsRune(":-_.\\@", r) {
			return bad
		}
	}
	for _, suffix := range unitSuffixes {
		if prefix, ok := strings.CutSuffix(v, suffix); ok && prefix != "" && prefix != "@" {
			return nil
		}
	}
	return bad
}
