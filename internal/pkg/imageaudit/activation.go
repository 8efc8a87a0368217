package imageaudit

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// networkTargets are the targets whose ".wants/" a distribution or an admin
// fills with whatever brings the network up; a unit enabled there is
// assumed to touch the network even when it is not on the curated list.
var networkTargets = map[string]bool{
	"network.target":        true,
	"network-online.target": true,
	"network-pre.target":    true,
}

// dhcpClientPrefixes name DHCP clients that ship their own units; enabled
// anywhere, they lease addresses on whatever links they see.
var dhcpClientPrefixes = []string{"dhclient", "dhcpcd", "udhcpc", "dhcp6c", "wide-dhcpv6-client"}

func isDHCPClientUnit(name string) bool {
	for _, p := range dhcpClientPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// activations records which units the image would start on its own, each
// with the first reason found.
type activations struct {
	why           map[string]string
	networkWanted map[string]string // unit -> the network target's wants directory
}

// reasons returns why a unit (or, for a template, any of its instances)
// would start. Sorted for stable output.
func (a *activations) reasons(name string) []string {
	var out []string
	if w, ok := a.why[name]; ok {
		out = append(out, w)
	}
	if _, inst, _, hasAt := splitUnit(name); hasAt && inst == "" {
		var insts []string
		for u := range a.why {
			if isInstanceOf(u, name) {
				insts = append(insts, u)
			}
		}
		sort.Strings(insts)
		for _, u := range insts {
			out = append(out, u+": "+a.why[u])
		}
	}
	return out
}

// sysvStartLink matches "S20networking" in /etc/rc?.d.
var sysvStartLink = regexp.MustCompile(`^S[0-9]{2}(.+)$`)

// computeActivations walks from everything the image enables (dependency
// links, D-Bus aliases, SysV start links) through Wants=/Requires=/BindsTo=/
// Upholds= and socket, timer and path activation. Units that are masked or
// carry the marker condition stop the walk: they never start, so nothing
// they pull in is started through them.
func (ix *unitIndex) computeActivations() (*activations, error) {
	a := &activations{why: map[string]string{}, networkWanted: map[string]string{}}
	var queue []string
	add := func(unit, reason string) {
		if strings.Contains(unit, "%") || !isUnitName(unit) {
			return
		}
		if _, ok := a.why[unit]; ok {
			return
		}
		a.why[unit] = reason
		queue = append(queue, unit)
	}
	for _, l := range ix.links {
		if l.Entry.State != pathRegular {
			continue
		}
		u := ix.canonical(l.Unit)
		add(u, "enabled in "+l.Dir)
		if networkTargets[l.Owner] {
			if _, seen := a.networkWanted[u]; !seen {
				a.networkWanted[u] = l.Dir
			}
		}
	}
	aliases := make([]string, 0, len(ix.aliases))
	for alias := range ix.aliases {
		aliases = append(aliases, alias)
	}
	sort.Strings(aliases)
	for _, alias := range aliases {
		if strings.HasPrefix(alias, "dbus-org.") {
			add(ix.canonical(alias), "D-Bus activatable through the alias "+ix.entries[alias].Path)
		}
	}
	for _, lvl := range []string{"S", "2", "3", "4", "5"} {
		dir := "/etc/rc" + lvl + ".d"
		ents, err := ix.r.readDir(dir)
		if err != nil {
			return nil, fmt.Errorf("failed to read %q: %w", dir, err)
		}
		for _, e := range ents {
			m := sysvStartLink.FindStringSubmatch(e.Name())
			if m == nil {
				continue
			}
			// systemd-sysv-generator ignores a script that has a native
			// unit of the same name, and its links with it.
			if _, native := ix.entries[m[1]+".service"]; !native {
				add(m[1]+".service", "started by the SysV link "+path.Join(dir, e.Name()))
			}
		}
	}

	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		st, err := ix.status(u)
		if err != nil {
			return nil, err
		}
		if !st.Installed || st.neutralized() {
			continue
		}
		for _, key := range []string{"Wants", "Requires", "BindsTo", "Upholds"} {
			for _, dep := range iniValues(st.Entries, "Unit", key) {
				add(ix.canonical(dep), fmt.Sprintf("pulled in by %s (%s=)", u, key))
			}
		}
		for _, t := range triggeredUnits(u, st.Entries) {
			add(ix.canonical(t), "activated by "+u)
		}
	}
	return a, nil
}

// triggeredUnits returns the unit a socket, timer or path unit starts.
func triggeredUnits(name string, entries []iniEntry) []string {
	prefix, instance, typ, hasAt := splitUnit(name)
	base := prefix
	if hasAt {
		base = prefix + "@" + instance
	}
	switch typ {
	case "socket":
		if svc, ok := iniLast(entries, "Socket", "Service"); ok && svc != "" {
			return []string{svc}
		}
		if accept, _ := iniLast(entries, "Socket", "Accept"); parseBool(accept) {
			return []string{base + "@.service"}
		}
		return []string{base + ".service"}
	case "timer", "path":
		section := strings.ToUpper(typ[:1]) + typ[1:]
		if u := iniValues(entries, section, "Unit"); len(u) > 0 {
			return u
		}
		return []string{base + ".service"}
	}
	return nil
}

// parseBool accepts systemd's spellings of true.
func parseBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	}
	return false
}

// presetDirs hold the enablement policy `systemctl preset` applies.
var presetDirs = []string{
	"/etc/systemd/system-preset",
	"/usr/local/lib/systemd/system-preset",
	"/lib/systemd/system-preset",
	"/usr/lib/systemd/system-preset",
}

// presetRule is one "enable|disable|ignore PATTERN" line.
type presetRule struct {
	Action  string
	Pattern string
	File    string
}

// parsePresets reads one preset file.
func parsePresets(data []byte, file string) []presetRule {
	var out []presetRule
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		out = append(out, presetRule{Action: f[0], Pattern: f[1], File: file})
	}
	return out
}

// presetFor returns the first rule whose pattern matches unit: the first
// match decides, as in systemctl.
func presetFor(rules []presetRule, unit string) (presetRule, bool) {
	for _, r := range rules {
		if ok, _ := path.Match(r.Pattern, unit); ok {
			return r, true
		}
	}
	return presetRule{}, false
}

// loadPresets reads all preset files of the image in the order they apply.
func (r *imageRoot) loadPresets() ([]presetRule, error) {
	files, err := r.mergeConfDirs(presetDirs, func(n string) bool { return strings.HasSuffix(n, ".preset") })
	if err != nil {
		return nil, fmt.Errorf("failed to read preset files: %w", err)
	}
	var rules []presetRule
	for _, f := range files {
		if f.State != pathRegular {
			continue
		}
		data, err := r.readFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("failed to read preset file %q: %w", f.Path, err)
		}
		rules = append(rules, parsePresets(data, f.Path)...)
	}
	return rules, nil
}

// isFirstBoot reports whether systemd would treat the image's first start as
// a first boot, when it enables every unit its presets say to enable:
// /etc/machine-id is missing or holds "uninitialized".
func (r *imageRoot) isFirstBoot() bool {
	data, err := r.readFile("/etc/machine-id")
	if err != nil {
		return true
	}
	return strings.TrimSpace(string(data)) == "uninitialized"
}
