package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"golang.org/x/sys/unix"
)

// mountError says which mount failed and how, with the flags spelled out.
type mountError struct {
	Op, Source, Target, FSType string
	Flags                      uintptr
	Data                       string
	Err                        error
}

func (e *mountError) Error() string {
	return fmt.Sprintf("failed to %s %s on %s (type %q, flags %s, data %q): %v",
		e.Op, e.Source, e.Target, e.FSType, flagNames(e.Flags), e.Data, e.Err)
}

func (e *mountError) Unwrap() error { return e.Err }

// mount wraps mount(2) with the context a user needs to understand a failure.
func mount(source, target, fstype string, flags uintptr, data string) error {
	for {
		err := unix.Mount(source, target, fstype, flags, data)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &mountError{Op: "mount", Source: source, Target: target, FSType: fstype, Flags: flags, Data: data, Err: err}
		}
		return nil
	}
}

var mountFlagNames = []struct {
	flag uintptr
	name string
}{
	{unix.MS_RDONLY, "MS_RDONLY"}, {unix.MS_NOSUID, "MS_NOSUID"}, {unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"}, {unix.MS_REMOUNT, "MS_REMOUNT"}, {unix.MS_BIND, "MS_BIND"},
	{unix.MS_REC, "MS_REC"}, {unix.MS_PRIVATE, "MS_PRIVATE"}, {unix.MS_SLAVE, "MS_SLAVE"},
}

func flagNames(f uintptr) string {
	var names []string
	for _, n := range mountFlagNames {
		if f&n.flag != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// parseMountOptions splits runtime-spec mount options into mount flags
// and filesystem data. "bind" and "rbind" become MS_BIND (|MS_REC); a
// read-only bind is applied by a second, remounting call (see mountSpec).
func parseMountOptions(opts []string) (flags uintptr, data string, readOnly bool) {
	var extra []string
	for _, o := range opts {
		switch o {
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "ro":
			readOnly = true
		case "idmap":
			// Handled by the caller in a user namespace.
		case "rw":
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		default:
			extra = append(extra, o)
		}
	}
	return flags, strings.Join(extra, ","), readOnly
}

// securePath joins a container path to root without letting symlinks inside
// the image lead out of it: every component is resolved inside root, by
// filepath-securejoin (as runc does). The path is cleaned lexically first,
// so ".." never climbs out of a symlink's target.
func securePath(root, path string) (string, error) {
	return securejoin.SecureJoin(root, filepath.Clean("/"+path))
}

// mountPoint makes sure target exists, as a file when the source is not a
// directory, so that a bind of a file has something to cover.
func mountPoint(target string, dir bool) error {
	if _, err := os.Lstat(target); err == nil {
		return nil
	}
	if dir {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// remountReadOnly makes an existing mount read-only, keeping the flags the
// kernel insists on for locked mounts.
func remountReadOnly(target string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err == nil {
		for _, f := range []struct{ st, ms uintptr }{
			{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		} {
			if uintptr(st.Flags)&f.st != 0 {
				flags |= f.ms
			}
		}
	}
	return mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|flags, "")
}
