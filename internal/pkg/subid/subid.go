// Package subid finds a user's subordinate id range in /etc/subuid or
// /etc/subgid (subuid(5)), the ids newuidmap and newgidmap let that user
// map into a user namespace of its own. Choosing among a user's entries
// follows upstream Apptainer's fakeroot: an entry of exactly MinCount ids
// first, else the largest one above it; smaller ones are not used.
package subid

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/moby/sys/user"
)

// Files of the host's subordinate ids.
const (
	UIDFile = "/etc/subuid"
	GIDFile = "/etc/subgid"
)

// MinCount is the smallest range used: a container's 65536 ids, what
// useradd gives a new user and what images' users and groups fit in.
const MinCount = 65536

var (
	// ErrNoEntry is a file without an entry for the user (or no file).
	ErrNoEntry = errors.New("no mapping entry found")
	// ErrRangeTooLow is a user whose entries are all too small.
	ErrRangeTooLow = errors.New("range count lower than")
)

// Range is a run of Count host ids starting at Start.
type Range struct {
	Start, Count uint32
}

// Lookup returns the range of path (UIDFile or GIDFile) for the user
// named name, whose uid is uid: subuid(5) entries name a user by name or
// by uid.
func Lookup(path, name string, uid int) (Range, error) {
	entries, err := user.ParseSubIDFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Range{}, fmt.Errorf("%w in %s for %s", ErrNoEntry, path, name)
	}
	if err != nil {
		return Range{}, fmt.Errorf("cannot read %s: %w", path, err)
	}
	r, err := Pick(entries, name, uid)
	if errors.Is(err, ErrNoEntry) {
		return Range{}, fmt.Errorf("%w in %s for %s", ErrNoEntry, path, name)
	}
	if errors.Is(err, ErrRangeTooLow) {
		return Range{}, fmt.Errorf("mapping entries for user %s found in %s but all with a %w %d", name, path, ErrRangeTooLow, MinCount)
	}
	return r, err
}

// Pick chooses the user's range among entries.
func Pick(entries []user.SubID, name string, uid int) (Range, error) {
	var best *user.SubID
	found := false
	for i, e := range entries {
		if e.Name != name && e.Name != strconv.Itoa(uid) {
			continue
		}
		found = true
		if !valid(e) || e.Count < MinCount {
			continue
		}
		if e.Count == MinCount {
			return Range{Start: uint32(e.SubID), Count: uint32(e.Count)}, nil
		}
		if best == nil || e.Count > best.Count {
			best = &entries[i]
		}
	}
	switch {
	case best != nil:
		return Range{Start: uint32(best.SubID), Count: uint32(best.Count)}, nil
	case found:
		return Range{}, ErrRangeTooLow
	}
	return Range{}, ErrNoEntry
}

// valid rejects what cannot be an id range: a start below 1 (id 0 is
// root) or past 32 bits with its count (the kernel's ids are 32 bits,
// and 2^32-1 is never valid).
func valid(e user.SubID) bool {
	return e.SubID > 0 && e.Count > 0 && e.SubID+e.Count <= 1<<32-1
}
