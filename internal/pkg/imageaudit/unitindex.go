package imageaudit

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// unitDirs are the unit directories an image carries, highest priority
// first, as systemd searches them. /run is left out: it is empty in an image
// at rest and a tmpfs at boot.
var unitDirs = []string{
	"/etc/systemd/system",
	"/usr/local/lib/systemd/system",
	"/lib/systemd/system",
	"/usr/lib/systemd/system",
}

// unitEntry is what a unit directory holds under a unit's name.
type unitEntry struct {
	Name  string
	Path  string    // in-image path of the entry
	State linkState // pathRegular, pathMasked or pathBroken
	Dest  string    // the file a link leads to, or where it dangles
	SysV  bool      // an /etc/init.d script that systemd-sysv-generator turns into a unit
}

// depLink is one symlink in a "<unit>.wants/", ".requires/" or ".upholds/"
// directory: the way `systemctl enable` records an [Install] section.
type depLink struct {
	Dir   string // in-image directory holding the link
	Owner string // the unit whose dependency it is, e.g. multi-user.target
	Unit  string // the unit it pulls in (the link's name)
	Entry unitEntry
}

// unitIndex is everything the unit directories of an image say about which
// units exist, which names are aliases, and what is enabled.
type unitIndex struct {
	r       *imageRoot
	dirs    []string
	entries map[string]unitEntry // first entry by priority for each name
	aliases map[string]string    // alias name -> name of the unit file it links to
	links   []depLink
	cache   map[string]unitStatus
}

// loadUnitIndex scans the unit directories of the image.
func loadUnitIndex(r *imageRoot) (*unitIndex, error) {
	ix := &unitIndex{r: r, dirs: r.uniqueDirs(unitDirs), entries: map[string]unitEntry{}, aliases: map[string]string{}, cache: map[string]unitStatus{}}
	for _, d := range ix.dirs {
		ents, err := r.readDir(d)
		if err != nil {
			return nil, fmt.Errorf("failed to read unit directory %q: %w", d, err)
		}
		for _, e := range ents {
			name := e.Name()
			p := path.Join(d, name)
			if kind := depDirKind(name); kind != "" && e.IsDir() {
				if err := ix.scanDepDir(p, strings.TrimSuffix(name, "."+kind)); err != nil {
					return nil, err
				}
				continue
			}
			if !isUnitName(name) {
				continue
			}
			if _, seen := ix.entries[name]; seen {
				continue
			}
			ent := ix.classifyEntry(name, p)
			if ent.State == pathOther {
				continue
			}
			ix.entries[name] = ent
			if target := path.Base(ent.Dest); ent.State == pathRegular && target != name && !isInstanceOf(name, target) {
				ix.aliases[name] = target
			}
		}
	}
	return ix, nil
}

func (ix *unitIndex) classifyEntry(name, p string) unitEntry {
	st, dest := ix.r.classify(p)
	return unitEntry{Name: name, Path: p, State: st, Dest: dest}
}

func (ix *unitIndex) scanDepDir(dir, owner string) error {
	ents, err := ix.r.readDir(dir)
	if err != nil {
		return fmt.Errorf("failed to read %q: %w", dir, err)
	}
	for _, e := range ents {
		if !isUnitName(e.Name()) {
			continue
		}
		ent := ix.classifyEntry(e.Name(), path.Join(dir, e.Name()))
		ix.links = append(ix.links, depLink{Dir: dir, Owner: owner, Unit: e.Name(), Entry: ent})
	}
	return nil
}

// depDirKind returns "wants", "requires" or "upholds" for a dependency
// directory name, "" otherwise.
func depDirKind(name string) string {
	for _, k := range []string{"wants", "requires", "upholds"} {
		if strings.HasSuffix(name, "."+k) {
			return k
		}
	}
	return ""
}

// unitSuffixes are the unit types a unit directory can hold.
var unitSuffixes = []string{".service", ".socket", ".target", ".timer", ".path", ".mount", ".automount", ".swap", ".slice", ".scope", ".device"}

func isUnitName(name string) bool { return hasSuffixIn(name, unitSuffixes...) }

// splitUnit splits "a@b.service" into prefix "a", instance "b" and type
// "service". A template ("a@.service") has an empty instance and isTemplate.
func splitUnit(name string) (prefix, instance, typ string, hasAt bool) {
	base, typ := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		base, typ = name[:i], name[i+1:]
	}
	prefix, instance, hasAt = strings.Cut(base, "@")
	return prefix, instance, typ, hasAt
}

// templateOf returns "a@.service" for "a@b.service", or "" for a name that
// is not an instance.
func templateOf(name string) string {
	prefix, instance, typ, hasAt := splitUnit(name)
	if !hasAt || instance == "" {
		return ""
	}
	return prefix + "@." + typ
}

// isInstanceOf reports whether name is an instance of the template tmpl.
func isInstanceOf(name, tmpl string) bool { return templateOf(name) == tmpl }

// canonical maps an alias to the name of the unit file it links to.
func (ix *unitIndex) canonical(name string) string {
	for hop := 0; hop < maxSymlinkHops; hop++ {
		next, ok := ix.aliases[name]
		if !ok {
			return name
		}
		name = next
	}
	return name
}

// namesOf returns the unit's own name, its canonical name, and every alias
// that leads to it: systemd reads drop-ins under all of them.
func (ix *unitIndex) namesOf(name string) []string {
	canon := ix.canonical(name)
	names := []string{name}
	if canon != name {
		names = append(names, canon)
	}
	var extra []string
	for alias := range ix.aliases {
		if alias != name && ix.canonical(alias) == canon {
			extra = append(extra, alias)
		}
	}
	sort.Strings(extra)
	return append(names, extra...)
}

// fragment finds the file that defines a unit: its own entry, then its
// template's, then a SysV init script for a service.
func (ix *unitIndex) fragment(name string) (unitEntry, bool) {
	if e, ok := ix.entries[name]; ok {
		return e, true
	}
	if t := templateOf(name); t != "" {
		if e, ok := ix.entries[t]; ok {
			return e, true
		}
	}
	if base, ok := strings.CutSuffix(name, ".service"); ok && !strings.Contains(base, "@") {
		p := "/etc/init.d/" + base
		if st, dest := ix.r.classify(p); st == pathRegular {
			return unitEntry{Name: name, Path: p, State: st, Dest: dest, SysV: true}, true
		}
	}
	return unitEntry{}, false
}

// dropInDirNames lists, for one unit name, the drop-in directory names
// systemd consults: the name's own, its template's, one per dash-truncated
// prefix ("foo-bar-.service.d", "foo-.service.d") and the per-type one
// ("service.d").
func dropInDirNames(name string) []string {
	out := []string{name + ".d"}
	if t := templateOf(name); t != "" {
		out = append(out, t+".d")
	}
	_, _, typ, _ := splitUnit(name)
	base := strings.TrimSuffix(name, "."+typ)
	for i := len(base) - 1; i > 0; i-- {
		if base[i] == '-' {
			out = append(out, base[:i+1]+"."+typ+".d")
		}
	}
	return append(out, typ+".d")
}

// dropIn is one drop-in file that applies to a unit.
type dropIn struct {
	Name  string // file name, which orders drop-ins
	Path  string
	State linkState
}

// dropIns returns the ".conf" drop-ins that apply to a unit, in the order
// systemd applies them: by file name, a file in a higher-priority unit
// directory hiding one of the same name in a lower one.
func (ix *unitIndex) dropIns(name string) ([]dropIn, error) {
	var dirs []string
	for _, d := range ix.dirs {
		for _, n := range ix.namesOf(name) {
			for _, dn := range dropInDirNames(n) {
				dirs = append(dirs, path.Join(d, dn))
			}
		}
	}
	files, err := ix.r.mergeConfDirs(dirs, func(n string) bool { return strings.HasSuffix(n, ".conf") })
	if err != nil {
		return nil, fmt.Errorf("failed to read drop-ins of %s: %w", name, err)
	}
	out := make([]dropIn, 0, len(files))
	for _, f := range files {
		out = append(out, dropIn{Name: f.Name, Path: f.Path, State: f.State})
	}
	return out, nil
}
