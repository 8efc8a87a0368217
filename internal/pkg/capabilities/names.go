// Package capabilities names Linux capabilities the way apptainer.conf,
// capability.json and the --add-caps/--drop-caps flags spell them
// ("CAP_NET_ADMIN"), computes root's default set, and applies a set to the
// calling thread right before the container process is executed.
//
// Everything except Apply and OfProcess is a pure function of its
// arguments.
package capabilities

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
)

// known holds the canonical names indexed by capability number, and
// byName maps each canonical name back to its number.
var known, byName = buildTables()

func buildTables() ([]string, map[string]int) {
	caps := capability.ListKnown()
	last := 0
	for _, c := range caps {
		last = max(last, int(c))
	}
	names := make([]string, last+1)
	index := make(map[string]int, len(caps))
	for _, c := range caps {
		name := "CAP_" + strings.ToUpper(c.String())
		names[int(c)] = name
		index[name] = int(c)
	}
	return names, index
}

// Known returns every capability name this build knows, ordered by
// capability number, so that Known()[n] is the name of capability n. The
// kernel may support fewer of them; setting an unsupported one is a no-op.
func Known() []string {
	out := make([]string, len(known))
	copy(out, known)
	return out
}

// Normalize returns the canonical spelling of a capability name and
// whether it is known. It accepts any case and an optional "CAP_" prefix:
// "net_admin", "cap_net_admin" and "CAP_NET_ADMIN" all give "CAP_NET_ADMIN".
func Normalize(name string) (string, bool) {
	upper := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(upper, "CAP_") {
		upper = "CAP_" + upper
	}
	if _, ok := byName[upper]; !ok {
		return "", false
	}
	return upper, true
}

// ParseList splits a comma-separated list as given to --add-caps,
// --drop-caps or `capability add`. The word "all" (any case) stands for
// every known capability. Known names come back normalized, deduplicated
// and ordered by number; names that are not known come back as typed (but
// trimmed) in unknown, so the caller can warn about each of them.
func ParseList(list string) (caps []string, unknown []string) {
	var set Set
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case strings.EqualFold(item, "all"):
			set = append(set, known...)
		default:
			if name, ok := Normalize(item); ok {
				set = append(set, name)
			} else {
				unknown = append(unknown, item)
			}
		}
	}
	return set.Sorted(), unknown
}

// FromMask lists the capabilities whose bits are set in mask, as found in
// the Cap* lines of /proc/<pid>/status. Bits this build has no name for
// (a kernel newer than the capability library) are listed as "CAP_<n>"
// rather than hidden, since the result is used for diagnostics.
func FromMask(mask uint64) []string {
	var out []string
	for n := range 64 {
		if mask&(1<<n) == 0 {
			continue
		}
		if n < len(known) && known[n] != "" {
			out = append(out, known[n])
		} else {
			out = append(out, "CAP_"+strconv.Itoa(n))
		}
	}
	return out
}

// ToMask is the inverse of FromMask for known names; it fails on the first
// name it cannot normalize.
func ToMask(caps []string) (uint64, error) {
	var mask uint64
	for _, c := range caps {
		name, ok := Normalize(c)
		if !ok {
			return 0, fmt.Errorf("unknown capability %q", c)
		}
		mask |= 1 << byName[name]
	}
	return mask, nil
}
