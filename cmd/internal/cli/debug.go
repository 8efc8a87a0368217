package cli

import (
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

// debugDecisions prints, with -d, what the launcher decided for a
// container: where upstream traces its engine step by step, here every
// decision is in the config, so the config is what is shown. Variable
// values are left out (they may hold secrets); their names are shown.
func debugDecisions(cfg *config.Config) {
	if stderrLog.level < levelDebug {
		return
	}
	s := cfg.Spec
	var ns []string
	for _, n := range s.Linux.Namespaces {
		if n.Path != "" {
			ns = append(ns, string(n.Type)+"="+n.Path)
		} else {
			ns = append(ns, string(n.Type))
		}
	}
	stderrLog.Debugf("Image: %s, root file system %s", cfg.Image, cfg.Rootfs)
	stderrLog.Debugf("Namespaces: %s", strings.Join(ns, ", "))
	for _, m := range s.Mounts {
		stderrLog.Debugf("Mount: %s on %s type %s (%s)", m.Source, m.Destination, m.Type, strings.Join(m.Options, ","))
	}
	for _, d := range s.Linux.Devices {
		stderrLog.Debugf("Device: %s (%s %d:%d)", d.Path, d.Type, d.Major, d.Minor)
	}
	if cmd, ok := launcher.BehindAction(s.Process.Args); ok {
		stderrLog.Debugf("Process: the action script (image environment), then %s", strings.Join(cmd, " "))
	} else {
		stderrLog.Debugf("Process: %s", strings.Join(cmd, " "))
	}
	stderrLog.Debugf("Working directory: %s", s.Process.Cwd)
	var names []string
	for _, kv := range s.Process.Env {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	stderrLog.Debugf("Environment: %s", strings.Join(names, " "))
	if c := s.Process.Capabilities; c != nil {
		stderrLog.Debugf("Capabilities: %s", strings.Join(c.Bounding, ","))
	}
	if cfg.Network != nil {
		stderrLog.Debugf("Networks: %s", strings.Join(cfg.Network.Networks, ","))
	}
	if cfg.HostNet != nil {
		stderrLog.Debugf("Host network: guard %s, masked units %s", cfg.HostNet.Guard, strings.Join(cfg.HostNet.MaskedUnits, ","))
	}
}
