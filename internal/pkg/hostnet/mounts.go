package hostnet

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mount is how a path is mounted in the recording process's mount
// namespace, as /proc/self/mountinfo shows it. The guard records /sys:
// sysfs belongs to a network namespace, and every sysfs mounted for the
// host's network namespace (a booted instance's /sys on the host network
// included) is one file system with the host's /sys. Remounting it
// read-only without MS_BIND (a bug this guards against) changes the file
// system's flags, SuperOptions, under the host's /sys as well.
type Mount struct {
	Path string `json:"path"`
	// FSType and Source are the file system type and source ("sysfs").
	FSType string `json:"fstype,omitempty"`
	Source string `json:"source,omitempty"`
	// Options are the mount's own flags: rw or ro, nosuid, nodev, noexec,
	// the atime mode.
	Options string `json:"options,omitempty"`
	// SuperOptions are the file system's flags, shared by all its mounts
	// (rw or ro).
	SuperOptions string `json:"superOptions,omitempty"`
	// Unavailable says why nothing else is recorded: Path is not a mount
	// point, or mountinfo could not be read.
	Unavailable string `json:"unavailable,omitempty"`
}

// sysfsPath is the mount recorded as Snapshot.Sysfs; mountinfoPath is read
// for it. Both are variables for the tests.
var (
	sysfsPath     = "/sys"
	mountinfoPath = "/proc/self/mountinfo"
)

// readMount returns how path is mounted according to the mountinfo file at
// mountinfo: the topmost of the mounts on it, the last one listed. The
// mount's identity (IDs, peer groups) is not recorded: it differs between
// the monitor's mount namespace and the host's, where `hostnet diff`
// runs, and says nothing about its flags.
func readMount(mountinfo, path string) *Mount {
	m := &Mount{Path: path}
	f, err := os.Open(mountinfo)
	if err != nil {
		m.Unavailable = err.Error()
		return m
	}
	defer f.Close()
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
		fields := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 || unescapeMountinfo(fields[4]) != path {
			continue
		}
		found = true
		m.Options = fields[5]
		m.FSType = fields[sep+1]
		m.Source = unescapeMountinfo(fields[sep+2])
		m.SuperOptions = fields[sep+3]
	}
	switch {
	case sc.Err() != nil:
		return &Mount{Path: path, Unavailable: fmt.Sprintf("failed to read %s: %v", mountinfo, sc.Err())}
	case !found:
		m.Unavailable = "not a mount point"
	}
	return m
}

// unescapeMountinfo decodes the octal escapes (\040 for a blank) that
// mountinfo uses in paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mount compares the recordings of a mount field by field; a mount the
// baseline did not record (an older baseline) is not compared.
func (d *differ) mount(kind string, before, after *Mount) {
	switch {
	case before == nil:
		return
	case after == nil:
		d.changed(kind, "", "recorded", "yes", "no")
		return
	}
	d.changed(kind, after.Path, "path", before.Path, after.Path)
	d.changed(kind, after.Path, "unavailable", before.Unavailable, after.Unavailable)
	d.changed(kind, after.Path, "fstype", before.FSType, after.FSType)
	d.changed(kind, after.Path, "source", before.Source, after.Source)
	d.changed(kind, after.Path, "options", before.Options, after.Options)
	d.changed(kind, after.Path, "super options", before.SuperOptions, after.SuperOptions)
}
