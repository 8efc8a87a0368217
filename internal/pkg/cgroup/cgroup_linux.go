// Package cgroup gives each booted instance its own cgroup2 directory. It
// works on pure cgroup2 hosts (/sys/fs/cgroup) and on hybrid hosts, where
// cgroup2 sits at /sys/fs/cgroup/unified with no controllers: systemd inside
// the instance then runs in unified mode and touches none of the host's v1
// hierarchies.
package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// parentName is the directory under the cgroup2 root that holds instances.
const parentName = "apptainer"

// Mountpoint returns where the host's cgroup2 hierarchy is mounted.
func Mountpoint() (string, error) {
	// The canonical locations answer with one statfs each; the mount
	// table, which can be long on a busy host, is read only otherwise.
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p, nil
		}
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return "", fmt.Errorf("failed to read mountinfo: %w", err)
	}
	best := ""
	for _, m := range mounts {
		// Prefer the canonical locations over private mounts elsewhere.
		switch m.Mountpoint {
		case "/sys/fs/cgroup":
			return m.Mountpoint, nil
		case "/sys/fs/cgroup/unified":
			best = m.Mountpoint
		default:
			if best == "" {
				best = m.Mountpoint
			}
		}
	}
	if best == "" {
		return "", errors.New("no cgroup2 hierarchy is mounted on this host")
	}
	return best, nil
}

// Path is the cgroup2 directory of one instance.
func Path(mountpoint, user, name string) string {
	return filepath.Join(mountpoint, parentName, user+"."+name)
}

// DelegatedPath is the cgroup2 directory of one instance below the
// cgroup own (a path in the hierarchy, as /proc/self/cgroup gives it) that
// a service manager delegated to the caller: apptainer/USER.NAME there,
// as at the top, so that what is below own and ours is in one place.
func DelegatedPath(mountpoint, own, user, name string) string {
	return filepath.Join(mountpoint, own, parentName, user+"."+name)
}

// Own returns this process's cgroup in the cgroup2 hierarchy, as a path
// from the hierarchy's root (its cgroup namespace's).
func Own() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	return unifiedPath(string(b))
}

// unifiedPath finds the cgroup2 line ("0::/PATH") of a /proc/PID/cgroup
// text. A path outside the reader's cgroup namespace ("/.." first) names
// no directory the reader can reach, and is an error.
func unifiedPath(procCgroup string) (string, error) {
	for _, line := range strings.Split(procCgroup, "\n") {
		p, ok := strings.CutPrefix(line, "0::")
		if !ok {
			continue
		}
		if !strings.HasPrefix(p, "/") || filepath.Clean(p) != p || strings.HasPrefix(p, "/..") {
			return "", fmt.Errorf("this process's cgroup2 cgroup %q is not a path below its cgroup namespace's root", p)
		}
		return p, nil
	}
	return "", errors.New("this process is in no cgroup2 cgroup (no \"0::\" line in /proc/self/cgroup)")
}

// Create makes the instance's cgroup and returns an open directory fd for
// clone(CLONE_INTO_CGROUP). A leftover directory of a dead instance with the
// same name is removed first; one with live processes is an error.
func Create(path string) (*os.File, error) {
	if _, err := os.Stat(path); err == nil {
		if err := Remove(path, 0); err != nil {
			return nil, fmt.Errorf("cgroup %s of an earlier instance is still in use: %w", path, err)
		}
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create cgroup %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("failed to open cgroup %s: %w", path, err)
	}
	return f, nil
}

// Remove deletes the instance's cgroup and every cgroup systemd made below
// it, deepest first. Processes leave a cgroup shortly after they are reaped,
// so it retries until wait has passed, quickly at first: `instance stop`
// waits for this.
func Remove(path string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		err := removeTree(path)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			_ = os.Remove(filepath.Dir(path)) // the parent, once the last instance is gone
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("failed to remove cgroup %s: %w", path, err)
		}
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
}

func removeTree(path string) error {
	var dirs []string
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

// ProcsFiles returns the cgroup.procs files of the cgroups process pid is
// in, as this process sees the hierarchies: the cgroup2 one first, then
// those of the v1 hierarchies mounted here (a hybrid host), each only
// when pid is not at the hierarchy's root (there is nothing to join
// then). Writing "0" to them moves the writer in.
func ProcsFiles(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	mnt, err := Mountpoint()
	if err != nil {
		return nil, err
	}
	var v2 string
	var v1 []string
	var v1Mounts map[string]string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		rel := filepath.Clean("/" + f[2])
		if f[0] == "0" && f[1] == "" {
			v2 = filepath.Join(mnt, rel, "cgroup.procs")
			continue
		}
		if rel == "/" {
			continue
		}
		if v1Mounts == nil {
			if v1Mounts, err = v1Mountpoints(); err != nil {
				return nil, err
			}
		}
		if m, ok := v1Mounts[hierarchyKey(f[1])]; ok {
			v1 = append(v1, filepath.Join(m, rel, "cgroup.procs"))
		}
	}
	if v2 == "" {
		return nil, fmt.Errorf("process %d is in no cgroup2 cgroup", pid)
	}
	return append([]string{v2}, v1...), nil
}
