package imageaudit

import (
	"bufio"
	"bytes"
	"strings"
)

// iniEntry is one assignment of a systemd-style INI file (unit files,
// drop-ins, .network/.link files and NetworkManager keyfiles all use it).
type iniEntry struct {
	Section string
	Key     string
	Value   string
}

// parseINI reads systemd's INI dialect: "[Section]" headers, "Key=Value"
// lines, "#" and ";" comments, and a trailing backslash continuing a line.
// It never fails: systemd itself skips lines it cannot parse, and the audit
// should see what systemd would see.
func parseINI(data []byte) []iniEntry {
	var out []iniEntry
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), maxConfigSize)
	var cont strings.Builder
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont.WriteString(strings.TrimSuffix(line, "\\"))
			cont.WriteString(" ")
			continue
		}
		if cont.Len() > 0 {
			cont.WriteString(line)
			line = strings.TrimSpace(cont.String())
			cont.Reset()
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		out = append(out, iniEntry{Section: section, Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	return out
}

// iniValues returns every value assigned to key in section, split on
// whitespace, in file order. It suits list settings such as Wants=.
func iniValues(entries []iniEntry, section, key string) []string {
	var out []string
	for _, e := range entries {
		if e.Section == section && e.Key == key {
			out = append(out, strings.Fields(e.Value)...)
		}
	}
	return out
}

// iniLast returns the last value assigned to key in section, the one that
// wins for single-valued settings.
func iniLast(entries []iniEntry, section, key string) (string, bool) {
	val, found := "", false
	for _, e := range entries {
		if e.Section == section && e.Key == key {
			val, found = e.Value, true
		}
	}
	return val, found
}

// effectiveConditions replays the [Unit] Condition*= assignments of a unit
// file followed by its drop-ins (already in systemd's order) and returns the
// conditions systemd would end up checking, as "Key=Value". An empty
// assignment of any Condition*= key throws away every condition set before
// it, which is how a later drop-in can undo ours.
func effectiveConditions(files [][]byte) []string {
	var conds []string
	for _, data := range files {
		for _, e := range parseINI(data) {
			if e.Section != "Unit" || !strings.HasPrefix(e.Key, "Condition") {
				continue
			}
			if e.Value == "" {
				conds = nil
				continue
			}
			conds = append(conds, e.Key+"="+e.Value)
		}
	}
	return conds
}

// hasMarkerCondition reports whether conds include the non-triggering
// negated check on the hostnet marker. A triggering ("|") form would not do:
// it only has to hold if no other triggering condition holds.
func hasMarkerCondition(conds []string) bool {
	for _, c := range conds {
		k, v, _ := strings.Cut(c, "=")
		if k != "ConditionPathExists" {
			continue
		}
		v = strings.TrimSpace(v)
		if !strings.HasPrefix(v, "!") {
			continue
		}
		if strings.TrimSpace(strings.TrimPrefix(v, "!")) == MarkerPath {
			return true
		}
	}
	return false
}
