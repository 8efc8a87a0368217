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
)

// Build builds apptainer and apptainer-engine (static Go, linked with the
// -ldflags ld) and apptainer-nsenter (C) from the repository at repo into
// dir. The CLI finds the other two next to itself.
func Build(repo, dir, ld string) error {
	for _, b := range [][]string{
		{"go", "build", "-o", filepath.Join(dir, "apptainer"), "-ldflags", ld, "./cmd/apptainer"},
		{"go", "build", "-o", filepath.Join(dir, "apptainer-engine"), "-ldflags", ld, "./cmd/apptainer-engine"},
		{"cc", "-O2", "-Wall", "-Werror", "-static", "-o", filepath.Join(dir, "apptainer-nsenter"), "cmd/apptainer-nsenter/main.c", "-lseccomp"},
	} {
		cmd := exec.Command(b[0], b[1:]...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(b, " "), err, out)
		}
	}
	return nil
}
