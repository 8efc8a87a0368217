package hostnet

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Op says what happened to an object between two snapshots.
type Op string

// The operations of a Change.
const (
	Added   Op = "added"
	Removed Op = "removed"
	Changed Op = "changed"
)

// The kinds of object a Change is about, in the order Compare reports them.
const (
	KindNetns      = "netns"
	KindLink       = "link"
	KindAddress    = "address"
	KindMulticast  = "multicast"
	KindRoute      = "route"
	KindNexthop    = "nexthop"
	KindRule       = "rule"
	KindNeighbour  = "neighbour"
	KindAddrLabel  = "addrlabel"
	KindXfrmPolicy = "xfrm policy"
	KindXfrmState  = "xfrm state"
	KindNetfilter  = "netfilter"
	KindSysctl     = "sysctl"
	KindResolvConf = "resolv.conf"
	KindListener   = "listener"
	KindSysfsMount = "sysfs mount"
	KindBinfmt     = "binfmt_misc"
)

// Change is one difference between two snapshots.
//
// Object names the thing as an administrator would: a link name, "10.201.0.2/24
// on ib0", a route or rule as ip(8) prints it, a sysctl key, the firewall tool,
// the resolv.conf path, a listening socket. For Changed, Field names the
// property ("mtu", "flags"; empty when the object has a single value, as a
// sysctl) and Before/After hold the old and new values. For Added and
// Removed, After or Before may carry the object's content (a link's summary,
// a sysctl's value, a firewall or resolv.conf line).
type Change struct {
	Op     Op     `json:"op"`
	Kind   string `json:"kind"`
	Object string `json:"object"`
	Field  string `json:"field,omitempty"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// String renders a change on one line:
//
//	link ib0: mtu 2044 -> 4092
//	+ address 10.201.0.77/24 on ib0
//	sysctl net.ipv4.conf.ib0.rp_filter: 0 -> 1
//	- rule inet 1000: from 10.201.0.0/24 lookup 100 proto boot
func (c Change) String() string {
	subject := c.Kind
	if c.Object != "" {
		subject += " " + c.Object
	}
	switch c.Op {
	case Added, Removed:
		sign, value := "+", c.After
		if c.Op == Removed {
			sign, value = "-", c.Before
		}
		if value == "" {
			return sign + " " + subject
		}
		return sign + " " + subject + ": " + value
	default:
		field := ""
		if c.Field != "" {
			field = c.Field + " "
		}
		return fmt.Sprintf("%s: %s%s -> %s", subject, field, shown(c.Before), shown(c.After))
	}
}

// joinOrDash joins flags for display; "-" stands for none.
func joinOrDash(flags []string) string {
	if len(flags) == 0 {
		return "-"
	}
	return strings.Join(flags, ",")
}

// shown makes an empty value visible.
func shown(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

// Diff is the list of changes between two snapshots, grouped by kind in a
// fixed order; within a kind, objects are sorted, and firewall and
// resolv.conf lines keep their file order. The same two snapshots always
// give the same text and JSON.
type Diff struct {
	Changes []Change `json:"changes"`
}

// Empty reports whether nothing changed.
func (d Diff) Empty() bool { return len(d.Changes) == 0 }

// String renders one change a line, without a trailing newline; "" when
// nothing changed.
func (d Diff) String() string {
	lines := make([]string, len(d.Changes))
	for i, c := range d.Changes {
		lines[i] = c.String()
	}
	return strings.Join(lines, "\n")
}

// MarshalJSON always writes a list, never null, so that scripts reading
// --json output can iterate over "changes" without a special case.
func (d Diff) MarshalJSON() ([]byte, error) {
	changes := d.Changes
	if changes == nil {
		changes = []Change{}
	}
	return json.Marshal(struct {
		Changes []Change `json:"changes"`
	}{changes})
}

// Compare lists what changed from before to after. A nil snapshot counts as
// an empty one. What before did not record (the kinds a baseline from an
// older version has no field for, the kernel state of a baseline taken
// without SnapshotOptions.Kernel) is not compared.
func Compare(before, after *Snapshot) Diff {
	if before == nil {
		before = &Snapshot{}
	}
	if after == nil {
		after = &Snapshot{}
	}
	var d differ
	d.changed(KindNetns, "", "", before.Netns, after.Netns)
	gone, born := d.links(before.Links, after.Links)
	d.addresses(before.Addresses, after.Addresses)
	d.objects(KindMulticast, withoutLinks(before.Multicast, gone, born), withoutLinks(after.Multicast, gone, born))
	d.set(KindRoute, keys(before.Routes, Route.key), keys(after.Routes, Route.key))
	d.objects(KindNexthop, before.Nexthops, after.Nexthops)
	d.set(KindRule, keys(before.Rules, Rule.String), keys(after.Rules, Rule.String))
	d.objects(KindNeighbour, before.Neighbours, after.Neighbours)
	d.objects(KindAddrLabel, before.AddrLabels, after.AddrLabels)
	d.objects(KindXfrmPolicy, before.XfrmPolicies, after.XfrmPolicies)
	d.objects(KindXfrmState, before.XfrmStates, after.XfrmStates)
	d.netfilter(before.Netfilter, after.Netfilter)
	d.sysctls(before.Sysctls, after.Sysctls, gone, born)
	d.kernel(before.Kernel, after.Kernel)
	d.resolvConf(before.ResolvConf, after.ResolvConf)
	d.set(KindListener, keys(before.Listeners, Listener.String), keys(after.Listeners, Listener.String))
	d.mount(KindSysfsMount, before.Sysfs, after.Sysfs)
	return Diff{Changes: d.out}
}

// differ accumulates changes.
type differ struct{ out []Change }

func (d *differ) added(kind, object, value string) {
	d.out = append(d.out, Change{Op: Added, Kind: kind, Object: object, After: value})
}

func (d *differ) removed(kind, object, value string) {
	d.out = append(d.out, Change{Op: Removed, Kind: kind, Object: object, Before: value})
}

func (d *differ) changed(kind, object, field, before, after string) {
	if before != after {
		d.out = append(d.out, Change{Op: Changed, Kind: kind, Object: object, Field: field, Before: before, After: after})
	}
}

// links compares links by name and returns the names of the links that
// disappeared and appeared, whose per-link sysctls come and go with them.
func (d *differ) links(before, after []Link) (gone, born map[string]bool) {
	b, a := byKey(before, func(l Link) string { return l.Name }), byKey(after, func(l Link) string { return l.Name })
	gone, born = map[string]bool{}, map[string]bool{}
	for _, name := range unionKeys(b, a) {
		old, hadOld := b[name]
		cur, hasCur := a[name]
		switch {
		case !hasCur:
			gone[name] = true
			d.removed(KindLink, name, old.summary())
		case !hadOld:
			born[name] = true
			d.added(KindLink, name, cur.summary())
		default:
			d.changed(KindLink, name, "index", strconv.Itoa(old.Index), strconv.Itoa(cur.Index))
			d.changed(KindLink, name, "type", old.Type, cur.Type)
			d.changed(KindLink, name, "state", old.OperState, cur.OperState)
			d.changed(KindLink, name, "admin", upDown(old.AdminUp), upDown(cur.AdminUp))
			d.changed(KindLink, name, "mtu", strconv.Itoa(old.MTU), strconv.Itoa(cur.MTU))
			d.changed(KindLink, name, "flags", joinOrDash(old.Flags), joinOrDash(cur.Flags))
			d.changed(KindLink, name, "master", old.Master, cur.Master)
			d.changed(KindLink, name, "address", old.LinkAddr, cur.LinkAddr)
			if old.TxQLen != nil && cur.TxQLen != nil {
				d.changed(KindLink, name, "txqlen", strconv.Itoa(*old.TxQLen), strconv.Itoa(*cur.TxQLen))
			}
			if old.Alias != nil && cur.Alias != nil {
				d.changed(KindLink, name, "alias", *old.Alias, *cur.Alias)
			}
		}
	}
	return gone, born
}

// withoutLinks leaves out the multicast addresses of the links that were
// added or removed: a link comes and goes with its groups (all-hosts,
// all-nodes, ...), and the link change says it all.
func withoutLinks(m *Objects, gone, born map[string]bool) *Objects {
	if m == nil || (len(gone) == 0 && len(born) == 0) {
		return m
	}
	out := &Objects{Entries: make([]Entry, 0, len(m.Entries)), Unavailable: m.Unavailable}
	for _, e := range m.Entries {
		_, link, _ := strings.Cut(e.ID, " on ")
		if !gone[link] && !born[link] {
			out.Entries = append(out.Entries, e)
		}
	}
	return out
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func (d *differ) addresses(before, after []Address) {
	id := func(a Address) string { return a.CIDR + " on " + a.Link }
	b, a := byKey(before, id), byKey(after, id)
	for _, k := range unionKeys(b, a) {
		old, hadOld := b[k]
		cur, hasCur := a[k]
		switch {
		case !hasCur:
			d.removed(KindAddress, k, "")
		case !hadOld:
			d.added(KindAddress, k, "")
		default:
			d.changed(KindAddress, k, "scope", old.Scope, cur.Scope)
			d.changed(KindAddress, k, "flags", joinOrDash(old.Flags), joinOrDash(cur.Flags))
			d.changed(KindAddress, k, "peer", old.Peer, cur.Peer)
			d.changed(KindAddress, k, "broadcast", old.Broadcast, cur.Broadcast)
			d.changed(KindAddress, k, "label", old.Label, cur.Label)
		}
	}
}

// set compares objects that are either there or not (routes, rules,
// listeners): a route "changed" in place is a route removed and another
// added, which is also how the kernel sees it.
func (d *differ) set(kind string, before, after map[string]bool) {
	for _, k := range unionKeys(before, after) {
		switch {
		case !after[k]:
			d.removed(kind, k, "")
		case !before[k]:
			d.added(kind, k, "")
		}
	}
}

func (d *differ) netfilter(before, after Netfilter) {
	d.changed(KindNetfilter, "", "unavailable", before.Unavailable, after.Unavailable)
	b := byKey(before.Rulesets, func(r Ruleset) string { return r.Tool })
	a := byKey(after.Rulesets, func(r Ruleset) string { return r.Tool })
	for _, tool := range unionKeys(b, a) {
		d.lines(KindNetfilter, tool, b[tool].Lines, a[tool].Lines)
	}
}

func (d *differ) lines(kind, object string, before, after []string) {
	for _, e := range diffLines(before, after) {
		if e.Added {
			d.added(kind, object, e.Line)
		} else {
			d.removed(kind, object, e.Line)
		}
	}
}

// sysctls compares values key by key. The keys of a link that was added or
// removed are not listed one by one: the link change says it all, and a
// single veth brings about a hundred of them.
func (d *differ) sysctls(before, after map[string]string, gone, born map[string]bool) {
	implied := func(key string, links map[string]bool) bool {
		link, ok := sysctlLink(key)
		return ok && links[link]
	}
	for _, k := range unionKeys(before, after) {
		old, hadOld := before[k]
		cur, hasCur := after[k]
		switch {
		case !hasCur:
			if !implied(k, gone) {
				d.removed(KindSysctl, k, old)
			}
		case !hadOld:
			if !implied(k, born) {
				d.added(KindSysctl, k, cur)
			}
		default:
			d.changed(KindSysctl, k, "", old, cur)
		}
	}
}

func (d *differ) resolvConf(before, after *ResolvConf) {
	switch {
	case before == nil && after == nil:
		return
	case before == nil || after == nil:
		// One snapshot recorded the file and the other did not: the caller
		// changed its options, which is worth saying rather than hiding.
		d.changed(KindResolvConf, "", "recorded", recorded(before), recorded(after))
		return
	}
	d.changed(KindResolvConf, after.Path, "path", before.Path, after.Path)
	d.changed(KindResolvConf, after.Path, "error", before.Error, after.Error)
	d.lines(KindResolvConf, after.Path, splitLines(before.Content), splitLines(after.Content))
}

func recorded(rc *ResolvConf) string {
	if rc == nil {
		return "no"
	}
	return rc.Path
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func byKey[T any](items []T, key func(T) string) map[string]T {
	m := make(map[string]T, len(items))
	for _, it := range items {
		m[key(it)] = it
	}
	return m
}

func keys[T any](items []T, key func(T) string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[key(it)] = true
	}
	return m
}

// unionKeys returns the keys of both maps, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	ks := make([]string, 0, len(a)+len(b))
	for k := range a {
		ks = append(ks, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}
