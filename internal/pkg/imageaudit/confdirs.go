package imageaudit

import (
	"errors"
	"io/fs"
	"path"
	"sort"
)

// sortEntries orders directory entries by name so every report and every
// manifest comes out the same on every run.
func sortEntries(ents []fs.DirEntry) {
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
}

// confFile is one file of a set of configuration directories after the
// usual systemd/udev override rules were applied.
type confFile struct {
	Name  string    // file name, the key the override rules use
	Path  string    // in-image path of the winning file
	State linkState // pathRegular, pathMasked or pathBroken
	Dest  string    // for pathBroken: where the link chain dangles
}

// uniqueDirs drops directories that resolve to one already listed, as /lib
// and /usr/lib do on merged-/usr images, keeping the first (higher
// priority) name.
func (r *imageRoot) uniqueDirs(dirs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range dirs {
		rp, err := r.resolve(d, true)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			rp = d
		}
		if seen[rp] {
			continue
		}
		seen[rp] = true
		out = append(out, d)
	}
	return out
}

// mergeConfDirs implements the rule shared by sysctl.d, udev rules.d,
// systemd/network and system-preset: files are keyed by name, a file in an
// earlier directory hides a file of the same name in a later one, and the
// result is processed in name order. dirs are listed from highest to lowest
// priority. Masked names (linked to /dev/null, or empty) are kept in the
// result so callers can tell a file was disabled on purpose.
func (r *imageRoot) mergeConfDirs(dirs []string, want func(name string) bool) ([]confFile, error) {
	byName := map[string]confFile{}
	for _, d := range r.uniqueDirs(dirs) {
		ents, err := r.readDir(d)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !want(e.Name()) {
				continue
			}
			if _, ok := byName[e.Name()]; ok {
				continue
			}
			p := path.Join(d, e.Name())
			st, dest := r.classify(p)
			if st != pathRegular && st != pathMasked && st != pathBroken {
				continue
			}
			byName[e.Name()] = confFile{Name: e.Name(), Path: p, State: st, Dest: dest}
		}
	}
	out := make([]confFile, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// hasSuffixIn reports whether name ends with one of the suffixes.
func hasSuffixIn(name string, suffixes ...string) bool {
	for _, s := range suffixes {
		if len(name) > len(s) && name[len(name)-len(s):] == s {
			return true
		}
	}
	return false
}

// sortedCopy returns a sorted copy of s.
func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
