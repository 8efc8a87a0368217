package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
