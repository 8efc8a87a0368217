package engine

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

// EngineBinaryName is the runtime's stage binary (cmd/apptainer-engine):
// the monitor and the container stage run from it. It is static and holds
// only the engine, so it starts in about half the time of the CLI binary
// and a monitor keeps far fewer pages resident for an instance's lifetime.
// It cannot enter existing namespaces (it has no cgo constructor): a stage
// that must start inside one runs from config.JoinBinary instead.
const EngineBinaryName = "apptainer-engine"

// engineBinary is the binary stages run from, looked up once.
var engineBinary = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return "/proc/self/exe"
	}
	return findEngine(exe, buildcfg.BinDir, buildcfg.EngineDir(), isExecutable)
})

// findEngine picks the stage binary for the running executable exe:
//   - apptainer-engine next to exe: a build directory, a relocated
//     install, or the engine itself when one stage starts the next;
//   - the installation's engine in engineDir, but only for the installed
//     CLI (exe in binDir): a development build must never pair with an
//     installed engine of another version;
//   - otherwise exe itself, which contains every stage too.
func findEngine(exe, binDir, engineDir string, executable func(string) bool) string {
	if p := filepath.Join(filepath.Dir(exe), EngineBinaryName); executable(p) {
		return p
	}
	if filepath.Dir(exe) == filepath.Clean(binDir) {
		if p := filepath.Join(engineDir, EngineBinaryName); executable(p) {
			return p
		}
	}
	return exe
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// setJoinBinary records the running binary as the one to re-execute for
// joins, unless the config already names one (a stage passing it on).
func setJoinBinary(cfg *config.Config) {
	if cfg.JoinBinary != "" {
		return
	}
	if exe, err := os.Executable(); err == nil {
		cfg.JoinBinary = exe
	} else {
		cfg.JoinBinary = "/proc/self/exe"
	}
}

// stageBinary is the binary for a stage of cfg: the engine, or the join
// binary when the stage must start inside an existing namespace.
func stageBinary(cfg *config.Config, joinsNamespace bool) string {
	if joinsNamespace {
		return cfg.JoinBinary
	}
	return engineBinary()
}
