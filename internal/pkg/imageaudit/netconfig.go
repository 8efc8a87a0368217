package imageaudit

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// configHit is a configuration file that a network daemon of the image
// would act on. Whether it is a finding depends on its consumers: a file
// read only by units that cannot start is harmless.
type configHit struct {
	Kind      Kind
	Path      string
	Why       string
	Consumers []string
}

// networkdDirs hold .network, .netdev and .link files, highest priority first.
var networkdDirs = []string{
	"/etc/systemd/network",
	"/usr/local/lib/systemd/network",
	"/lib/systemd/network",
	"/usr/lib/systemd/network",
}

// scanNetworkd reports the networkd and link files of the image.
func (a *auditor) scanNetworkd() error {
	files, err := a.r.mergeConfDirs(networkdDirs, func(n string) bool {
		return hasSuffixIn(n, ".network", ".netdev", ".link")
	})
	if err != nil {
		return fmt.Errorf("failed to read networkd configuration: %w", err)
	}
	return a.scanConf(files, func(f confFile, data []byte) (configHit, bool) {
		consumer := "systemd-networkd.service"
		if strings.HasSuffix(f.Name, ".link") {
			consumer = "systemd-udevd.service"
		}
		return configHit{
			Kind: KindNetworkd, Path: f.Path, Consumers: []string{consumer},
			Why: describeNetworkd(f.Name, parseINI(data)),
		}, true
	})
}

// scanConf reads each of files that the image has and records the hit
// judge makes of it, if any.
func (a *auditor) scanConf(files []confFile, judge func(f confFile, data []byte) (configHit, bool)) error {
	for _, f := range files {
		data, ok, err := a.readConf(f)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if hit, found := judge(f, data); found {
			a.hits = append(a.hits, hit)
		}
	}
	return nil
}

// readConf reads a merged configuration file, noting a dangling link
// instead of failing on it. ok is false for masked and dangling files.
func (a *auditor) readConf(f confFile) ([]byte, bool, error) {
	switch f.State {
	case pathBroken:
		a.noteBroken(f.Path, f.Dest)
		return nil, false, nil
	case pathRegular:
		data, err := a.r.readFile(f.Path)
		if err != nil {
			return nil, false, fmt.Errorf("failed to read %q: %w", f.Path, err)
		}
		return data, true, nil
	}
	return nil, false, nil
}

// describeNetworkd says in one sentence what a networkd or link file would
// do to the links of the namespace it runs in.
func describeNetworkd(name string, entries []iniEntry) string {
	var match []string
	settings := map[string]bool{}
	for _, e := range entries {
		if e.Section == "Match" {
			match = append(match, e.Key+"="+e.Value)
		} else if e.Value != "" {
			settings[e.Key+"="] = true
		}
	}
	target := "every link"
	if len(match) > 0 {
		target = "links matching " + strings.Join(match, " ")
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	what := strings.Join(keys, ", ")
	switch {
	case strings.HasSuffix(name, ".netdev"):
		kind, _ := iniLast(entries, "NetDev", "Kind")
		dev, _ := iniLast(entries, "NetDev", "Name")
		return fmt.Sprintf("systemd-networkd would create the %s link %q in the host's network namespace", kind, dev)
	case strings.HasSuffix(name, ".link"):
		return fmt.Sprintf("systemd-udevd would apply it to %s of the host, renaming them or changing their settings (%s)", target, what)
	}
	return fmt.Sprintf("systemd-networkd would configure %s of the host (%s)", target, what)
}

// ifupdownStanzas is what an interfaces(5) file asks ifupdown to bring up.
type ifupdownStanzas struct {
	Auto    []string          // "auto" and "allow-auto": ifup -a at boot
	Hotplug []string          // "allow-hotplug": ifup when udev announces the link
	Methods map[string]string // iface name -> "inet dhcp" and the like
}

// parseInterfaces reads an interfaces(5) file. The loopback is left out:
// bringing lo up is harmless and PID 1 does it anyway.
func parseInterfaces(data []byte) ifupdownStanzas {
	st := ifupdownStanzas{Methods: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var cont string
	for sc.Scan() {
		line := cont + sc.Text()
		cont = ""
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\") + " "
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var names []string
		for _, n := range f[1:] {
			if n != "lo" {
				names = append(names, n)
			}
		}
		switch {
		case f[0] == "auto" || f[0] == "allow-auto":
			st.Auto = append(st.Auto, names...)
		case f[0] == "allow-hotplug":
			st.Hotplug = append(st.Hotplug, names...)
		case f[0] == "iface" && len(f) >= 4 && f[1] != "lo":
			st.Methods[f[1]] = f[2] + " " + f[3]
		}
	}
	return st
}

// describe names the interfaces with their methods.
func (st ifupdownStanzas) describe(names []string) string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if m, ok := st.Methods[n]; ok {
			n += " (" + m + ")"
		}
		out = append(out, n)
	}
	return strings.Join(out, ", ")
}

// scanIfupdown reports interfaces(5) files that bring links up.
func (a *auditor) scanIfupdown() error {
	files := []confFile{}
	if st, dest := a.r.classify("/etc/network/interfaces"); st != pathMissing {
		files = append(files, confFile{Name: "interfaces", Path: "/etc/network/interfaces", State: st, Dest: dest})
	}
	more, err := a.r.mergeConfDirs([]string{"/etc/network/interfaces.d"}, func(string) bool { return true })
	if err != nil {
		return fmt.Errorf("failed to read /etc/network/interfaces.d: %w", err)
	}
	for _, f := range append(files, more...) {
		data, ok, err := a.readConf(f)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		st := parseInterfaces(data)
		if len(st.Auto) > 0 {
			a.hits = append(a.hits, configHit{
				Kind: KindIfupdown, Path: f.Path, Consumers: []string{"networking.service"},
				Why: fmt.Sprintf("ifup -a would configure %s on the host at boot, and ifdown -a would take them down, flushing the host's addresses, when the instance stops", st.describe(st.Auto)),
			})
		}
		if len(st.Hotplug) > 0 {
			a.hits = append(a.hits, configHit{
				Kind: KindIfupdown, Path: f.Path, Consumers: []string{"networking.service", "ifup@.service"},
				Why: fmt.Sprintf("ifupdown would configure %s on the host when udev announces them", st.describe(st.Hotplug)),
			})
		}
	}
	return nil
}

// nmConnectionDirs hold NetworkManager keyfile connection profiles.
var nmConnectionDirs = []string{"/etc/NetworkManager/system-connections", "/usr/lib/NetworkManager/system-connections"}

// scanNetworkManager reports connection profiles that NetworkManager would
// activate by itself, in keyfile and in Red Hat's ifcfg format.
func (a *auditor) scanNetworkManager() error {
	for _, dir := range nmConnectionDirs {
		files, err := a.r.mergeConfDirs([]string{dir}, func(n string) bool {
			return !strings.HasPrefix(n, ".") && !hasSuffixIn(n, "~", ".bak", ".orig", ".rej", ".swp")
		})
		if err != nil {
			return fmt.Errorf("failed to read %q: %w", dir, err)
		}
		for _, f := range files {
			data, ok, err := a.readConf(f)
			if err != nil {
				return err
			}
			if why, active := describeNMKeyfile(parseINI(data)); ok && active {
				a.hits = append(a.hits, configHit{Kind: KindNetworkManager, Path: f.Path, Consumers: []string{"NetworkManager.service"}, Why: why})
			}
		}
	}
	files, err := a.r.mergeConfDirs([]string{"/etc/sysconfig/network-scripts"}, func(n string) bool {
		return strings.HasPrefix(n, "ifcfg-") && n != "ifcfg-lo"
	})
	if err != nil {
		return fmt.Errorf("failed to read /etc/sysconfig/network-scripts: %w", err)
	}
	for _, f := range files {
		data, ok, err := a.readConf(f)
		if err != nil {
			return err
		}
		if why, active := describeIfcfg(data, strings.TrimPrefix(f.Name, "ifcfg-")); ok && active {
			a.hits = append(a.hits, configHit{Kind: KindNetworkManager, Path: f.Path, Consumers: []string{"NetworkManager.service"}, Why: why})
		}
	}
	return nil
}

// describeNMKeyfile explains a keyfile profile; active is false when it
// would not be activated without a user asking (autoconnect=false).
func describeNMKeyfile(entries []iniEntry) (why string, active bool) {
	if v, ok := iniLast(entries, "connection", "autoconnect"); ok && !parseBool(v) {
		return "", false
	}
	id, _ := iniLast(entries, "connection", "id")
	typ, _ := iniLast(entries, "connection", "type")
	dev := "any host link it matches"
	if ifn, ok := iniLast(entries, "connection", "interface-name"); ok && ifn != "" {
		dev = "the host's " + ifn
	}
	return fmt.Sprintf("NetworkManager would activate connection %q (type %s) on %s", id, typ, dev), true
}

// describeIfcfg explains an ifcfg file; active is false for ONBOOT=no.
func describeIfcfg(data []byte, fallback string) (why string, active bool) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		vars[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	if v, ok := vars["ONBOOT"]; ok && !parseBool(v) {
		return "", false
	}
	dev := vars["DEVICE"]
	if dev == "" {
		dev = fallback
	}
	proto := vars["BOOTPROTO"]
	if proto == "" {
		proto = "none"
	}
	return fmt.Sprintf("NetworkManager would bring up the host's %s at boot (BOOTPROTO=%s)", dev, proto), true
}
