package imageaudit

import (
	"fmt"
)

// unitStatus says whether a unit can start at all once the image boots.
type unitStatus struct {
	Name      string
	Installed bool
	Fragment  unitEntry
	Masked    bool
	MaskPath  string
	Guarded   bool   // the marker condition survives all drop-ins
	GuardPath string // the file that set the surviving marker condition
	ResetPath string // a drop-in that threw an earlier marker condition away
	Entries   []iniEntry
}

// neutralized reports whether the unit can never start on a host-network
// boot: masked, or carrying the marker condition.
func (s unitStatus) neutralized() bool { return s.Masked || s.Guarded }

// status evaluates one unit name (an instance, a template or a plain unit).
// Results are cached: the activation walk and the report ask about the same
// units.
func (ix *unitIndex) status(name string) (unitStatus, error) {
	if st, ok := ix.cache[name]; ok {
		return st, nil
	}
	st, err := ix.evalStatus(name)
	if err == nil {
		ix.cache[name] = st
	}
	return st, err
}

func (ix *unitIndex) evalStatus(name string) (unitStatus, error) {
	st := unitStatus{Name: name}
	for _, n := range []string{name, ix.canonical(name), templateOf(name)} {
		if e, ok := ix.entries[n]; ok && e.State == pathMasked {
			st.Installed, st.Masked, st.MaskPath = true, true, e.Path
			return st, nil
		}
	}
	frag, ok := ix.fragment(ix.canonical(name))
	if !ok || frag.State != pathRegular {
		return st, nil
	}
	st.Installed, st.Fragment = true, frag

	type source struct {
		path string
		data []byte
	}
	var srcs []source
	if !frag.SysV {
		data, err := ix.r.readFile(frag.Path)
		if err != nil {
			return st, fmt.Errorf("failed to read unit file %q: %w", frag.Path, err)
		}
		srcs = append(srcs, source{frag.Path, data})
	}
	dropins, err := ix.dropIns(name)
	if err != nil {
		return st, err
	}
	for _, d := range dropins {
		if d.State != pathRegular {
			continue
		}
		data, err := ix.r.readFile(d.Path)
		if err != nil {
			return st, fmt.Errorf("failed to read drop-in %q: %w", d.Path, err)
		}
		srcs = append(srcs, source{d.Path, data})
	}

	// Replay the files one at a time so the report can name both the file
	// that guards the unit and a later one that undoes it.
	var datas [][]byte
	guardedBefore := false
	for _, s := range srcs {
		datas = append(datas, s.data)
		st.Entries = append(st.Entries, parseINI(s.data)...)
		now := hasMarkerCondition(effectiveConditions(datas))
		switch {
		case now && (!guardedBefore || hasMarkerCondition(effectiveConditions([][]byte{s.data}))):
			st.GuardPath = s.path
		case !now && guardedBefore:
			st.ResetPath = s.path
		}
		guardedBefore = now
	}
	st.Guarded = guardedBefore
	if st.Guarded {
		st.ResetPath = ""
	}
	return st, nil
}
