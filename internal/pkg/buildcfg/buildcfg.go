// Package buildcfg holds the paths compiled into the binary. ./mconfig writes
// them into the build directory's Makefile, which passes them to the linker
// with -X; the values below are what a plain `go build` gets.
package buildcfg

import "path/filepath"

// Set with -ldflags "-X github.com/apptainer/apptainer/internal/pkg/buildcfg.NAME=VALUE".
var (
	Version       = "0.1.0-dev"
	Prefix        = "/usr/local"
	BinDir        = "/usr/local/bin"
	SysConfDir    = "/usr/local/etc"
	LocalStateDir = "/usr/local/var"
	LibExecDir    = "/usr/local/libexec"
)

// EngineDir is where an installation keeps the runtime's stage binary
// (apptainer-engine), like upstream's starter.
func EngineDir() string { return filepath.Join(LibExecDir, "apptainer", "bin") }

// ConfDir is where apptainer.conf and the network configurations live.
func ConfDir() string { return filepath.Join(SysConfDir, "apptainer") }

// ConfFile is the path of apptainer.conf.
func ConfFile() string { return filepath.Join(ConfDir(), "apptainer.conf") }

// CNIConfDir is the default "cni configuration path".
func CNIConfDir() string { return filepath.Join(ConfDir(), "network") }

// CNIPluginDirs are searched for CNI plugins when "cni plugin path" is unset:
// our own libexec directory first, then where distributions install them
// (Debian's containernetworking-plugins uses /usr/lib/cni).
func CNIPluginDirs() []string {
	return []string{filepath.Join(LibExecDir, "apptainer", "cni"), "/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin"}
}

// NetworkOverridesDir holds the systemd drop-ins shipped for host-network boots.
func NetworkOverridesDir() string { return filepath.Join(ConfDir(), "network-overrides") }

// StateDir holds runtime state that is not per user (CNI cache, IPAM leases).
func StateDir() string { return filepath.Join(LocalStateDir, "apptainer") }
