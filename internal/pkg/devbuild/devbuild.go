// Package devbuild builds the runtime's binaries into one directory, as
// make does, for the e2e tests and the benchmarks, which need builds with
// their own compiled-in paths.
package devbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
)

// Paths are the directories compiled into the binaries; an empty one is
// buildcfg's default.
type Paths struct {
	SysConfDir, LocalStateDir, LibExecDir string
}

// Build builds apptainer, apptainer-engine and apptainer-nsenter from the
// repository at repo into dir with the repository's own make rules
// (mk/build.mk), so that these builds are made exactly as a build directory
// makes them. The CLI finds the other two next to itself.
func Build(repo, dir string, p Paths) error {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	args := []string{"-s", "-f", filepath.Join(repo, "mk", "build.mk"),
		"SRCDIR=" + repo, "BUILDDIR=" + dir, "GO=go",
		"VERSION=" + buildcfg.Version, "PREFIX=" + buildcfg.Prefix, "BINDIR=" + buildcfg.BinDir,
		"SYSCONFDIR=" + or(p.SysConfDir, buildcfg.SysConfDir),
		"LOCALSTATEDIR=" + or(p.LocalStateDir, buildcfg.LocalStateDir),
		"LIBEXECDIR=" + or(p.LibExecDir, buildcfg.LibExecDir),
		filepath.Join(dir, "apptainer"), filepath.Join(dir, "apptainer-engine"), filepath.Join(dir, "apptainer-nsenter"),
	}
	cmd := exec.Command("make", args...)
	cmd.Dir = repo
	// Not a sub-make of whatever make runs the tests: its jobserver and
	// flags are not ours.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
