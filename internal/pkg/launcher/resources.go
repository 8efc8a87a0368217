package launcher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/pelletier/go-toml/v2"
)

// Limits are the resource flags, as typed: sizes take upstream's (and
// docker's) units, "256M", "1g", a number of bytes.
type Limits struct {
	Memory            string // --memory
	MemoryReservation string // --memory-reservation
	MemorySwap        string // --memory-swap: memory plus swap; -1 is unlimited
	CPUs              string // --cpus: a number of CPUs, "1.5"
	CPUShares         int64  // --cpu-shares
	CPUSetCPUs        string // --cpuset-cpus
	CPUSetMems        string // --cpuset-mems
	PidsLimit         int64  // --pids-limit
	BlkioWeight       int64  // --blkio-weight: 10 to 1000
	OOMKillDisable    bool   // --oom-kill-disable
	// File is --apply-cgroups, parsed (ParseCgroupsFile); it cannot be
	// combined with the flags above.
	File *specs.LinuxResources
}

// set reports whether any limit was asked for.
func (l Limits) set() bool { return l != Limits{} }

// flagsSet reports whether any limit flag (not the file) was given.
func (l Limits) flagsSet() bool { l.File = nil; return l.set() }

// cpuPeriod is the CFS period --cpus divides, in microseconds (upstream's
// and docker's).
const cpuPeriod = 100000

// resources turns the limits into the spec's, checked: a limit the kernel
// would refuse, or one that makes no sense, is an error before anything
// starts.
func (l Limits) resources() (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	mem := &specs.LinuxMemory{}
	for _, f := range []struct {
		flag, value string
		into        **int64
		allowUnlim  bool
	}{
		{"--memory", l.Memory, &mem.Limit, false},
		{"--memory-reservation", l.MemoryReservation, &mem.Reservation, false},
		{"--memory-swap", l.MemorySwap, &mem.Swap, true},
	} {
		if f.value == "" {
			continue
		}
		v, err := parseSize(f.value, f.allowUnlim)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q: %w", ErrInvalid, f.flag, f.value, err)
		}
		*f.into = &v
	}
	if mem.Swap != nil && *mem.Swap > 0 && (mem.Limit == nil || *mem.Swap < *mem.Limit) {
		return nil, fmt.Errorf("%w: --memory-swap is memory plus swap: it needs --memory, and must not be smaller", ErrInvalid)
	}
	if l.OOMKillDisable {
		t := true
		mem.DisableOOMKiller = &t
	}
	if *mem != (specs.LinuxMemory{}) {
		r.Memory = mem
	}
	cpu := &specs.LinuxCPU{Cpus: l.CPUSetCPUs, Mems: l.CPUSetMems}
	if l.CPUs != "" {
		n, err := strconv.ParseFloat(l.CPUs, 64)
		if err != nil || n <= 0 || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, fmt.Errorf("%w: --cpus %q: want a positive number of CPUs", ErrInvalid, l.CPUs)
		}
		quota, period := int64(n*cpuPeriod), uint64(cpuPeriod)
		cpu.Quota, cpu.Period = &quota, &period
	}
	if l.CPUShares != 0 {
		if l.CPUShares < 2 || l.CPUShares > 262144 {
			return nil, fmt.Errorf("%w: --cpu-shares %d: want 2 to 262144", ErrInvalid, l.CPUShares)
		}
		shares := uint64(l.CPUShares)
		cpu.Shares = &shares
	}
	if *cpu != (specs.LinuxCPU{}) {
		r.CPU = cpu
	}
	if l.PidsLimit != 0 {
		limit := l.PidsLimit
		if limit < 0 {
			limit = -1
		}
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	if l.BlkioWeight != 0 {
		if l.BlkioWeight < 10 || l.BlkioWeight > 1000 {
			return nil, fmt.Errorf("%w: --blkio-weight %d: want 10 to 1000", ErrInvalid, l.BlkioWeight)
		}
		w := uint16(l.BlkioWeight)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return r, nil
}

// parseSize reads a size with a unit; -1 is "unlimited" where allowed.
func parseSize(s string, allowUnlimited bool) (int64, error) {
	if allowUnlimited && s == "-1" {
		return -1, nil
	}
	v, err := units.RAMInBytes(s)
	if err != nil {
		return 0, err
	}
	if v <= 0 {
		return 0, fmt.Errorf("want a positive size")
	}
	return v, nil
}

// limitResources checks the limits and returns them as the spec's: nil
// without any. Only a booted instance has a cgroup of its own in this
// build: elsewhere they are refused.
func limitResources(o Options) (*specs.LinuxResources, error) {
	if !o.Limits.set() {
		return nil, nil
	}
	if !o.Boot {
		return nil, fmt.Errorf("%w: resource limits (--memory, --cpus, --pids-limit, ...) need an instance started with --boot in this build: only it has a cgroup of its own", ErrInvalid)
	}
	if f := o.Limits.File; f != nil {
		if o.Limits.flagsSet() {
			return nil, fmt.Errorf("%w: --apply-cgroups cannot be combined with the limit flags (--memory, --cpus, ...): put every limit in the file", ErrInvalid)
		}
		return f, nil
	}
	return o.Limits.resources()
}

// mergeLimits puts the limits into the config's resources, beside the
// device rules.
func mergeLimits(spec *specs.Spec, r *specs.LinuxResources) {
	if r == nil {
		return
	}
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	res := spec.Linux.Resources
	res.Memory, res.CPU, res.Pids, res.BlockIO = r.Memory, r.CPU, r.Pids, r.BlockIO
}

// cgroupsFileKeys are the keys of an --apply-cgroups file this build
// applies, by section: what the limit flags set. Any other key is refused,
// never ignored.
var cgroupsFileKeys = map[string][]string{
	"memory":  {"limit", "reservation", "swap", "disableOOMKiller"},
	"cpu":     {"shares", "quota", "period", "cpus", "mems"},
	"pids":    {"limit"},
	"blockIO": {"weight"},
}

// ParseCgroupsFile reads an --apply-cgroups file: upstream's TOML, whose
// keys are the runtime-spec's resource names ("[memory] limit =
// 1073741824"). name is for messages.
func ParseCgroupsFile(name string, content []byte) (*specs.LinuxResources, error) {
	var doc map[string]any
	if err := toml.Unmarshal(content, &doc); err != nil {
		return nil, fmt.Errorf("%w: --apply-cgroups %s: %w", ErrInvalid, name, err)
	}
	for section, v := range doc {
		allowed, ok := cgroupsFileKeys[section]
		table, isTable := v.(map[string]any)
		if !ok || !isTable {
			return nil, fmt.Errorf("%w: --apply-cgroups %s: [%s] is not supported by this build (want memory, cpu, pids or blockIO)", ErrInvalid, name, section)
		}
		for k := range table {
			if !slices.Contains(allowed, k) {
				return nil, fmt.Errorf("%w: --apply-cgroups %s: %s.%s is not supported by this build (want one of %s)", ErrInvalid, name, section, k, strings.Join(allowed, ", "))
			}
		}
	}
	// The TOML keys are the spec's JSON names: JSON carries them over.
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	r := &specs.LinuxResources{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("%w: --apply-cgroups %s: %w", ErrInvalid, name, err)
	}
	return r, nil
}
