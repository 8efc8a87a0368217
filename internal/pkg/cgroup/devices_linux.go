package cgroup

import (
	"fmt"

	"github.com/opencontainers/cgroups"
	// Registers cgroups.DevicesSetV2: runc's device program generator
	// and loader, which attaches a BPF_PROG_TYPE_CGROUP_DEVICE program.
	_ "github.com/opencontainers/cgroups/devices"
	devices "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ApplyDevicePolicy limits the processes of the cgroup2 directory path to
// the devices that rules allow, with runtime-spec semantics: the rules are
// read in order and the last one that matches a device decides. A device
// program is part of the cgroup2 hierarchy, so it works on hybrid hosts
// too, where the instance's cgroup is in the unified hierarchy; processes
// are subject to it wherever their v1 cgroups are.
func ApplyDevicePolicy(path string, rules []specs.LinuxDeviceCgroup) error {
	converted, err := deviceRules(rules)
	if err != nil {
		return err
	}
	// The loader raises RLIMIT_MEMLOCK for kernels that still charge BPF
	// to it; this process's children (the container) must not inherit
	// that.
	var memlock unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &memlock); err != nil {
		return err
	}
	defer func() { _ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &memlock) }()
	if err := cgroups.DevicesSetV2(path, &cgroups.Resources{Devices: converted}); err != nil {
		return fmt.Errorf("failed to attach the device policy to %s: %w", path, err)
	}
	return nil
}

// deviceRules converts runtime-spec device rules to runc's.
func deviceRules(rules []specs.LinuxDeviceCgroup) ([]*devices.Rule, error) {
	out := make([]*devices.Rule, 0, len(rules))
	for _, r := range rules {
		rule := &devices.Rule{Major: devices.Wildcard, Minor: devices.Wildcard, Permissions: devices.Permissions(r.Access), Allow: r.Allow}
		switch r.Type {
		case "", "a":
			rule.Type = devices.WildcardDevice
		case "c":
			rule.Type = devices.CharDevice
		case "b":
			rule.Type = devices.BlockDevice
		default:
			return nil, fmt.Errorf("invalid device rule type %q", r.Type)
		}
		if r.Major != nil {
			rule.Major = *r.Major
		}
		if r.Minor != nil {
			rule.Minor = *r.Minor
		}
		if rule.Permissions == "" {
			rule.Permissions = "rwm"
		}
		for _, p := range rule.Permissions {
			if p != 'r' && p != 'w' && p != 'm' {
				return nil, fmt.Errorf("invalid device access %q", r.Access)
			}
		}
		out = append(out, rule)
	}
	return out, nil
}
