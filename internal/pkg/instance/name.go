// Package instance keeps the on-disk bookkeeping of background instances:
// where each instance's JSON file and logs live, how the file is written and
// read, how a dead ("ghost") instance is recognised and purged, and how
// `instance list` prints them.
//
// The layout, the JSON keys and the list formats follow upstream Apptainer,
// so that its tools and ours can read each other's files. Fields that exist
// only here (booted instances, the host-network guard) are additive and are
// ignored by upstream readers.
package instance

import (
	"errors"
	"fmt"
	"regexp"
)

// MonitorPrefix starts the argv[0] of every instance monitor. Upstream
// decides liveness by looking for it in /proc/<ppid>/cmdline and deletes the
// files of any instance whose monitor lacks it, so it must not change.
const MonitorPrefix = "Apptainer instance"

var (
	// ErrInvalidName is wrapped by CheckName; its text completes upstream's
	// "<name> is not a valid instance name".
	ErrInvalidName = errors.New("is not a valid instance name")
	// ErrExists is wrapped when an instance of that name has a live monitor;
	// the full message reads "instance <name> already exists".
	ErrExists = errors.New("already exists")
	// ErrNotFound is wrapped when no live instance matches; its text is
	// upstream's "no instance found".
	ErrNotFound = errors.New("no instance found")
)

// validName is upstream's pattern for instance names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// CheckName reports whether name may be used as an instance name. The name
// becomes a directory and a file name, so besides upstream's character set it
// rejects "." and "..", which upstream's pattern lets through and which would
// place the files outside the per-user directory.
func CheckName(name string) error {
	if !validName.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("%s %w", name, ErrInvalidName)
	}
	return nil
}

// MonitorName is the process name (argv[0]) of the monitor of instance name
// started by user, e.g. "Apptainer instance: root [web]".
func MonitorName(user, name string) string {
	return fmt.Sprintf("%s: %s [%s]", MonitorPrefix, user, name)
}
