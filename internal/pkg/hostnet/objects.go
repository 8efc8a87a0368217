package hostnet

import (
	"sort"
	"strings"
)

// Objects is one recorded table of network objects of a single kind:
// neighbour entries, xfrm policies, xfrm states, IPv6 address labels,
// nexthop objects or multicast addresses. Each object is an Entry: what
// identifies it, and the rest of its configuration as one line of text in
// ip(8)'s words, so that a snapshot stays readable and a change is
// understandable on its own.
//
// These kinds came after the guard's first release. A snapshot (a
// baseline kept in a file) from before has no Objects for them at all: a
// nil *Objects means "not recorded", which Compare never reports, while
// an Objects with no Entries means "recorded, and there were none".
type Objects struct {
	// Entries are sorted by ID; no two have the same ID.
	Entries []Entry `json:"entries"`
	// Unavailable says why nothing could be recorded (the kernel or the
	// host lacks what it takes); the change of that reason is reported.
	Unavailable string `json:"unavailable,omitempty"`
}

// Entry is one object of an Objects table.
type Entry struct {
	// ID identifies the object within its kind: two entries with the same
	// ID in two snapshots are the same object, possibly changed.
	ID string `json:"id"`
	// Value is the rest of the object's configuration; "" when the ID
	// says it all.
	Value string `json:"value,omitempty"`
}

// newObjects sorts entries by ID. Entries that share an ID (which the
// collectors avoid) are folded into one, their values joined in order, so
// that comparing by ID loses nothing.
func newObjects(entries []Entry) *Objects {
	byID := make(map[string][]string, len(entries))
	for _, e := range entries {
		byID[e.ID] = append(byID[e.ID], e.Value)
	}
	out := make([]Entry, 0, len(byID))
	for id, values := range byID {
		sort.Strings(values)
		out = append(out, Entry{ID: id, Value: strings.Join(values, " | ")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return &Objects{Entries: out}
}

// unavailableObjects records that a kind could not be recorded, and why.
func unavailableObjects(why string) *Objects {
	return &Objects{Entries: []Entry{}, Unavailable: why}
}

// objects compares two tables of one kind by ID. A table the baseline did
// not record (an older baseline) is not compared; a table the baseline
// recorded and the later snapshot did not is a caller's change of
// options, reported as such rather than hidden.
func (d *differ) objects(kind string, before, after *Objects) {
	switch {
	case before == nil:
		return
	case after == nil:
		d.changed(kind, "", "recorded", "yes", "no")
		return
	}
	d.changed(kind, "", "unavailable", before.Unavailable, after.Unavailable)
	id := func(e Entry) string { return e.ID }
	b, a := byKey(before.Entries, id), byKey(after.Entries, id)
	for _, k := range unionKeys(b, a) {
		old, hadOld := b[k]
		cur, hasCur := a[k]
		switch {
		case !hasCur:
			d.removed(kind, k, old.Value)
		case !hadOld:
			d.added(kind, k, cur.Value)
		default:
			d.changed(kind, k, "", old.Value, cur.Value)
		}
	}
}
