package imageaudit

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// udevRulesDirs are read by systemd-udevd, highest priority first.
var udevRulesDirs = []string{
	"/etc/udev/rules.d",
	"/usr/local/lib/udev/rules.d",
	"/lib/udev/rules.d",
	"/usr/lib/udev/rules.d",
}

// udevPair matches one "KEY{attr}OP\"value\"" element of a rule line.
var udevPair = regexp.MustCompile(`^\s*([A-Za-z_]+)(\{[^}]*\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*$`)

// udevElem is one parsed element of a rule.
type udevElem struct {
	Key, Attr, Op, Value string
}

// splitUdevRule splits a rule line on the commas that are not inside quotes.
func splitUdevRule(line string) []udevElem {
	var out []udevElem
	var cur strings.Builder
	inQuote, escaped := false, false
	flush := func() {
		if m := udevPair.FindStringSubmatch(cur.String()); m != nil {
			out = append(out, udevElem{Key: m[1], Attr: strings.Trim(m[2], "{}"), Op: m[3], Value: m[4]})
		}
		cur.Reset()
	}
	for _, c := range line {
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			flush()
			continue
		}
		cur.WriteRune(c)
	}
	flush()
	return out
}

// netRuleEffects lists what the rules of one file do to network links:
// renames (a NAME assignment: udev can only rename network interfaces),
// the net_setup_link builtin that applies .link files, and programs run for
// "net" events.
func netRuleEffects(data []byte) []string {
	var effects []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), maxConfigSize)
	var cont string
	for sc.Scan() {
		line := cont + strings.TrimSpace(sc.Text())
		cont = ""
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\")
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		elems := splitUdevRule(line)
		netLine := false
		for _, e := range elems {
			if e.Key == "SUBSYSTEM" && e.Op == "==" && udevValueMatchesNet(e.Value) {
				netLine = true
			}
		}
		for _, e := range elems {
			switch {
			case e.Key == "NAME" && (e.Op == "=" || e.Op == ":="):
				effects = append(effects, fmt.Sprintf("renames links (NAME%s%q)", e.Op, e.Value))
			case e.Key == "IMPORT" && e.Attr == "builtin" && strings.HasPrefix(e.Value, "net_setup_link"):
				effects = append(effects, "applies .link files (renames links per NamePolicy, sets MTU, MAC address and offloads)")
			case netLine && e.Key == "RUN" && e.Op != "-=":
				effects = append(effects, fmt.Sprintf("runs %q for host link events", e.Value))
			case netLine && e.Key == "ENV" && e.Attr == "SYSTEMD_WANTS":
				effects = append(effects, fmt.Sprintf("starts %s for host link events", e.Value))
			}
		}
	}
	return effects
}

// udevValueMatchesNet tells whether a SUBSYSTEM match pattern covers "net".
func udevValueMatchesNet(v string) bool {
	for _, alt := range strings.Split(v, "|") {
		if alt == "net" || alt == "net*" || alt == "*" {
			return true
		}
	}
	return false
}

// scanUdev reports udev rules that act on network links.
func (a *auditor) scanUdev() error {
	files, err := a.r.mergeConfDirs(udevRulesDirs, func(n string) bool { return strings.HasSuffix(n, ".rules") })
	if err != nil {
		return fmt.Errorf("failed to read udev rules: %w", err)
	}
	return a.scanConf(files, func(f confFile, data []byte) (configHit, bool) {
		eff := netRuleEffects(data)
		return configHit{
			Kind: KindUdev, Path: f.Path, Consumers: []string{"systemd-udevd.service"},
			Why: "systemd-udevd would run these rules against the host's links: " + strings.Join(dedupe(eff), "; "),
		}, len(eff) > 0
	})
}

// dedupe drops repeated strings, keeping the first of each.
func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
