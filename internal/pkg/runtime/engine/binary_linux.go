package engine

import (
	"errors"
	"os"
	"path/filepath"
	"sync"

	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
)

// The runtime's helper binaries, built and installed with the CLI.
const (
	// EngineBinaryName runs the stages: the monitor and the container
	// stage (cmd/apptainer-engine). It is static and holds only the
	// engine, so a stage starts quickly and a monitor keeps few pages.
	EngineBinaryName = "apptainer-engine"
	// NsenterBinaryName enters existing namespaces and runs a program
	// there (cmd/apptainer-nsenter, C): joins of running instances, and
	// the container stage of --netns-path.
	NsenterBinaryName = "apptainer-nsenter"
)

// engineBinary is the binary stages run from, looked up once. Without an
// engine binary the running one runs them: the CLI contains every stage.
var engineBinary = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return "/proc/self/exe"
	}
	if p := findHelper(EngineBinaryName, exe, buildcfg.BinDir, buildcfg.EngineDir(), isExecutable); p != "" {
		return p
	}
	return exe
})

// nsenterBinary is the namespace-entering helper, looked up once. There is
// no substitute for it: Go cannot enter a mount or PID namespace.
var nsenterBinary = sync.OnceValues(func() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if p := findHelper(NsenterBinaryName, exe, buildcfg.BinDir, buildcfg.EngineDir(), isExecutable); p != "" {
		return p, nil
	}
	return "", errors.New(NsenterBinaryName + " not found next to " + exe + " or in " + buildcfg.EngineDir() + ": the installation is incomplete")
})

// findHelper looks for the helper binary name for the running executable
// exe, or returns "":
//   - next to exe: a build directory, a relocated install, or a helper
//     in the installation's helper directory looking for another;
//   - in helperDir, but only for the installed CLI (exe in binDir): a
//     development build must never pair with installed helpers of another
//     version.
func findHelper(name, exe, binDir, helperDir string, executable func(string) bool) string {
	if p := filepath.Join(filepath.Dir(exe), name); executable(p) {
		return p
	}
	if filepath.Dir(exe) == filepath.Clean(binDir) {
		if p := filepath.Join(helperDir, name); executable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
