package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
)

// On a hybrid host the cgroup v1 hierarchies stay the host's, but a
// booted instance is still placed in a cgroup of its own in each of them
// (apptainer/USER.NAME, as in cgroup2): its cgroup namespace then has that
// cgroup as its root in every hierarchy. Root in an instance without a user
// namespace may mount a v1 hierarchy, and would otherwise see the
// hierarchy's root, whose release_agent runs a program of its choosing on
// the host, as root, when a cgroup empties.

// V1Paths returns the directory of instance user.name in every cgroup v1
// hierarchy mounted on this host: none on a pure cgroup2 host.
func V1Paths(user, name string) ([]string, error) {
	if cgroups.IsCgroup2UnifiedMode() {
		return nil, nil
	}
	mounts, err := cgroups.GetCgroupMounts(false)
	if err != nil {
		return nil, fmt.Errorf("failed to find the cgroup v1 hierarchies: %w", err)
	}
	var paths []string
	for _, m := range mounts {
		// A mount of a sub-tree is not the host's view of the hierarchy.
		if m.Root != "/" {
			continue
		}
		paths = append(paths, Path(m.Mountpoint, user, name))
	}
	return paths, nil
}

// v1Mountpoints maps the controllers field of /proc/PID/cgroup ("pids",
// "cpu,cpuacct", "name=systemd") to where the host mounts that hierarchy's
// root.
func v1Mountpoints() (map[string]string, error) {
	mounts, err := cgroups.GetCgroupMounts(false)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range mounts {
		if m.Root != "/" {
			continue
		}
		subs := make([]string, 0, len(m.Subsystems))
		for _, s := range m.Subsystems {
			// GetCgroupMounts names the systemd hierarchy "systemd";
			// /proc/PID/cgroup says "name=systemd".
			if !strings.Contains(s, "=") && !isController(s) {
				s = "name=" + s
			}
			subs = append(subs, s)
		}
		out[hierarchyKey(strings.Join(subs, ","))] = m.Mountpoint
	}
	return out, nil
}

// hierarchyKey is a controllers field in a canonical order: the kernel
// and the mount options may list a joint hierarchy's controllers in
// different orders ("cpu,cpuacct").
func hierarchyKey(controllers string) string {
	parts := strings.Split(controllers, ",")
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// isController reports whether s is a v1 controller rather than the name
// of a named hierarchy.
func isController(s string) bool {
	switch s {
	case "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
		"blkio", "perf_event", "hugetlb", "pids", "rdma", "misc":
		return true
	}
	return false
}

// EnterV1 creates the v1 cgroups paths and moves pid into each of them.
func EnterV1(paths []string, pid int) error {
	for _, p := range paths {
		if err := makeV1(p); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(p, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("failed to move the container into cgroup %s: %w", p, err)
		}
	}
	return nil
}

// makeV1 creates a v1 cgroup and its missing parents. A new cpuset cgroup
// has no CPUs and memory nodes until it is given its parent's.
func makeV1(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	parent := filepath.Dir(path)
	if err := makeV1(parent); err != nil {
		return err
	}
	if err := os.Mkdir(path, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("failed to create cgroup %s: %w", path, err)
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		b, err := os.ReadFile(filepath.Join(parent, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue // not the cpuset hierarchy
		}
		if err != nil {
			return err
		}
		cur, _ := os.ReadFile(filepath.Join(path, f))
		if strings.TrimSpace(string(cur)) != "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(path, f), b, 0o644); err != nil {
			return fmt.Errorf("failed to set %s of %s: %w", f, path, err)
		}
	}
	return nil
}
