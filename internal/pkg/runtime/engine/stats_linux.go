package engine

import (
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/cgroup"
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/opencontainers/cgroups"
)

// errNoCgroup is InstanceStats' error for an instance without a cgroup of
// its own (one started without --boot).
var errNoCgroup = errors.New("stats are only available if cgroups are enabled: this build gives a cgroup to instances started with --boot")

// InstanceStats reads the resource use of the instance f, trusted (see
// Trusted), from its cgroups.
func InstanceStats(f *instance.File) (*InstanceUsage, error) {
	if !f.Cgroup || len(f.CgroupPaths) == 0 {
		return nil, errNoCgroup
	}
	v1, err := cgroup.InstanceV1(f.User, f.Name, f.CgroupPaths[1:])
	if err != nil {
		return nil, err
	}
	st, err := cgroup.Stats(f.CgroupPaths[0], v1)
	if err != nil {
		return nil, err
	}
	return usageOf(st)
}

// usageOf summarises the library's statistics.
func usageOf(st *cgroups.Stats) (*InstanceUsage, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	u := &InstanceUsage{
		CPUTotal: st.CpuStats.CpuUsage.TotalUsage,
		MemUsage: st.MemoryStats.Usage.Usage,
		Pids:     st.PidsStats.Current,
		Raw:      raw,
	}
	// "No limit" reads as the largest value the kernel has.
	if l := st.MemoryStats.Usage.Limit; l != 0 && l < math.MaxInt64/2 {
		u.MemLimit = l
	}
	for _, e := range st.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			u.BlockRead += e.Value
		case "write":
			u.BlockWrite += e.Value
		}
	}
	return u, nil
}
