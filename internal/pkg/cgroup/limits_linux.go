package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// An instance's resource limits go where the host has the controllers: its
// cgroup2 directory when the unified hierarchy offers every controller the
// limits need (a pure cgroup2 host), else its directories in the v1
// hierarchies (a hybrid host, whose unified hierarchy has none). A limit
// neither can apply is an error that names the controller.

// ErrNoController wraps the error for a limit the host cannot apply.
var ErrNoController = errors.New("the host has no cgroup controller for this limit")

// resourcesOf converts the spec's limits for the cgroups library. Devices
// are not its business here: the device policy has its own program.
func resourcesOf(r *specs.LinuxResources) *cgroups.Resources {
	out := &cgroups.Resources{SkipDevices: true}
	if m := r.Memory; m != nil {
		out.Memory = deref(m.Limit)
		out.MemoryReservation = deref(m.Reservation)
		out.MemorySwap = deref(m.Swap)
		out.OomKillDisable = m.DisableOOMKiller != nil && *m.DisableOOMKiller
	}
	if c := r.CPU; c != nil {
		out.CpuShares = deref(c.Shares)
		out.CpuQuota = deref(c.Quota)
		out.CpuPeriod = deref(c.Period)
		out.CpusetCpus = c.Cpus
		out.CpusetMems = c.Mems
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		limit := *p.Limit
		out.PidsLimit = &limit
	}
	if b := r.BlockIO; b != nil {
		out.BlkioWeight = deref(b.Weight)
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// controllersFor are the controllers the limits of r need, by their
// cgroup2 names.
func controllersFor(r *cgroups.Resources) []string {
	var out []string
	if r.Memory != 0 || r.MemoryReservation != 0 || r.MemorySwap != 0 || r.OomKillDisable {
		out = append(out, "memory")
	}
	if r.CpuShares != 0 || r.CpuQuota != 0 || r.CpuPeriod != 0 {
		out = append(out, "cpu")
	}
	if r.CpusetCpus != "" || r.CpusetMems != "" {
		out = append(out, "cpuset")
	}
	if r.PidsLimit != nil {
		out = append(out, "pids")
	}
	if r.BlkioWeight != 0 {
		out = append(out, "io")
	}
	return out
}

// v1Name is the v1 controller that plays a cgroup2 controller's part.
func v1Name(c string) string {
	if c == "io" {
		return "blkio"
	}
	return c
}

// HasLimits reports whether r asks for any limit this package applies.
func HasLimits(r *specs.LinuxResources) bool {
	return r != nil && len(controllersFor(resourcesOf(r))) > 0
}

// ApplyLimits applies the limits of r to the instance whose cgroup2
// directory is v2Path (made already) and whose v1 directories, by
// controller, are v1 (made here as needed). It reports which hierarchy
// took them.
func ApplyLimits(r *specs.LinuxResources, v2Path string, v1 map[string]string) (string, error) {
	res := resourcesOf(r)
	need := controllersFor(res)
	if len(need) == 0 {
		return "", nil
	}
	if res.OomKillDisable && len(v1) == 0 {
		return "", fmt.Errorf("%w: --oom-kill-disable needs the cgroup v1 memory controller; cgroup2 has no switch for the OOM killer", ErrNoController)
	}
	if missing := missingV2(v2Path, need); len(missing) == 0 && !res.OomKillDisable {
		if err := enableV2(v2Path, need); err != nil {
			return "", err
		}
		m, err := fs2.NewManager(&cgroups.Cgroup{Resources: res}, v2Path)
		if err != nil {
			return "", err
		}
		if err := m.Set(res); err != nil {
			return "", setError(v2Path, err)
		}
		return "cgroup2", nil
	} else if len(v1) == 0 {
		return "", fmt.Errorf("%w: %s (cgroup2 at %s offers %s)", ErrNoController, strings.Join(missing, ", "), filepath.Dir(v2Path), availableV2(v2Path))
	}
	var missing []string
	for _, c := range need {
		if _, ok := v1[v1Name(c)]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: %s, in neither cgroup2 nor a v1 hierarchy", ErrNoController, strings.Join(missing, ", "))
	}
	for _, c := range need {
		if err := makeV1(v1[v1Name(c)]); err != nil {
			return "", err
		}
	}
	m, err := fs.NewManager(&cgroups.Cgroup{Resources: res}, v1)
	if err != nil {
		return "", err
	}
	if err := m.Set(res); err != nil {
		return "", setError("the cgroup v1 hierarchies", err)
	}
	return "cgroup v1", nil
}

// setError explains a failed write: a missing file is a limit the
// controller does not offer here (a block I/O scheduler without weights).
func setError(where string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: the controller in %s does not offer this limit on this host (%v)", ErrNoController, where, err)
	}
	return fmt.Errorf("failed to set the instance's limits in %s: %w", where, err)
}

// availableV2 lists what the parent of path offers, for messages.
func availableV2(path string) string {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), "cgroup.controllers"))
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return "no controller"
	}
	return strings.TrimSpace(string(b))
}

// missingV2 are the controllers of need that the cgroup2 root does not
// offer.
func missingV2(path string, need []string) []string {
	root, err := Mountpoint()
	if err != nil {
		return need
	}
	b, _ := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	have := strings.Fields(string(b))
	var missing []string
	for _, c := range need {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

// enableV2 enables the controllers from the cgroup2 root down to the
// instance's parent, so that the instance's directory has their files.
// The directories on the way hold no processes of their own (the rule for
// enabling a controller below them).
func enableV2(path string, need []string) error {
	root, err := Mountpoint()
	if err != nil {
		return err
	}
	var plus []string
	for _, c := range need {
		plus = append(plus, "+"+c)
	}
	rel, err := filepath.Rel(root, filepath.Dir(path))
	if err != nil {
		return err
	}
	dir := root
	for _, part := range append([]string{""}, strings.Split(rel, string(filepath.Separator))...) {
		dir = filepath.Join(dir, part)
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(plus, " ")), 0o644); err != nil {
			return fmt.Errorf("failed to enable %s in %s: %w", strings.Join(need, ", "), dir, err)
		}
	}
	return nil
}

// V1ByController maps each v1 controller of this host (and named
// hierarchy) to the directory of instance user.name in its hierarchy.
func V1ByController(user, name string) (map[string]string, error) {
	if cgroups.IsCgroup2UnifiedMode() {
		return nil, nil
	}
	mounts, err := cgroups.GetCgroupMounts(false)
	if err != nil {
		return nil, fmt.Errorf("failed to find the cgroup v1 hierarchies: %w", err)
	}
	out := map[string]string{}
	for _, m := range mounts {
		if m.Root != "/" {
			continue
		}
		for _, s := range m.Subsystems {
			out[s] = Path(m.Mountpoint, user, name)
		}
	}
	return out, nil
}

// InstanceV1 maps each v1 controller to the instance's directory in its
// hierarchy, for the directories the instance has (dirs, as recorded in
// its instance file).
func InstanceV1(user, name string, dirs []string) (map[string]string, error) {
	all, err := V1ByController(user, name)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for c, p := range all {
		if slices.Contains(dirs, p) {
			out[c] = p
		}
	}
	return out, nil
}

// Stats reads an instance's resource use: from its v1 directories when it
// has them (a hybrid host, where the controllers are), else from its
// cgroup2 directory.
func Stats(v2Path string, v1 map[string]string) (*cgroups.Stats, error) {
	if len(v1) > 0 {
		m, err := fs.NewManager(&cgroups.Cgroup{Resources: &cgroups.Resources{}}, v1)
		if err != nil {
			return nil, err
		}
		return m.GetStats()
	}
	m, err := fs2.NewManager(&cgroups.Cgroup{Resources: &cgroups.Resources{}}, v2Path)
	if err != nil {
		return nil, err
	}
	return m.GetStats()
}

// Pids lists the processes in the cgroup at path and in all its
// descendants (a booted systemd makes its own).
func Pids(path string) ([]int, error) { return cgroups.GetAllPids(path) }
