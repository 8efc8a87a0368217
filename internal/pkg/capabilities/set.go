package capabilities

import (
	"slices"
	"strings"
)

// Set is a list of capability names. The methods never modify their
// receiver; they return a new set that is normalized, deduplicated and
// ordered by capability number, with names this build does not know kept
// verbatim after the known ones in lexical order.
type Set []string

// canonical returns the normalized name when it is known, the input
// otherwise, so that unknown names still compare equal to themselves.
func canonical(name string) string {
	if n, ok := Normalize(name); ok {
		return n
	}
	return name
}

// rank orders known names by number and puts unknown ones after them.
func rank(name string) int {
	if n, ok := byName[name]; ok {
		return n
	}
	return len(known)
}

// Sorted returns the set normalized, deduplicated and ordered.
func (s Set) Sorted() Set {
	out := make(Set, 0, len(s))
	for _, name := range s {
		out = append(out, canonical(name))
	}
	slices.SortFunc(out, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(out)
}

// Add returns the union of s and names.
func (s Set) Add(names ...string) Set {
	out := make(Set, 0, len(s)+len(names))
	out = append(out, s...)
	out = append(out, names...)
	return out.Sorted()
}

// Remove returns s without any of names.
func (s Set) Remove(names ...string) Set {
	drop := make(map[string]bool, len(names))
	for _, name := range names {
		drop[canonical(name)] = true
	}
	out := make(Set, 0, len(s))
	for _, name := range s {
		if !drop[canonical(name)] {
			out = append(out, name)
		}
	}
	return out.Sorted()
}

// Contains reports whether name, in any accepted spelling, is in s.
func (s Set) Contains(name string) bool {
	want := canonical(name)
	return slices.ContainsFunc(s, func(member string) bool {
		return canonical(member) == want
	})
}
