package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/cgroup"
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/network"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"golang.org/x/sys/unix"
)

// ReleaseGhost frees what the monitor of a dead instance could not: it
// kills what is left in the instance's cgroup and removes the cgroup,
// deletes its CNI networks, lets its network namespace go and removes its
// runtime directory. Errors are returned together; each step still runs.
// It is the instance.Paths OnGhost hook of the CLI.
func ReleaseGhost(f *instance.File) error {
	var errs []string
	if f.IDMapHost != 0 {
		defer releaseIDs(f.IDMapHost)
	}
	for _, cg := range f.CgroupPaths {
		if !strings.HasPrefix(cg, "/sys/fs/cgroup/") {
			continue // never act on a path a user could have planted
		}
		_ = os.WriteFile(filepath.Join(cg, "cgroup.kill"), []byte("1"), 0o644)
		if err := cgroup.Remove(cg, 3*time.Second); err != nil {
			errs = append(errs, err.Error())
		}
	}
	runDir := f.RunDir
	if runDir == "" || !strings.HasPrefix(runDir, RunRoot()+"/") {
		return joinErrs(errs)
	}
	if b, err := os.ReadFile(filepath.Join(runDir, cniResultFile)); err == nil {
		var res network.Result
		cfg, cerr := config.Decode(f.Config)
		if jerr := json.Unmarshal(b, &res); jerr == nil && cerr == nil && cfg.Network != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := network.Detach(ctx, network.Config{ConfDir: cfg.Network.ConfDir, PluginDirs: cfg.Network.PluginDirs,
				CacheDir: cfg.Network.CacheDir, Timeout: cniTimeout}, res.Attachments)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Sprintf("could not delete networks: %v", err))
			}
		}
	}
	ref := filepath.Join(runDir, "netns")
	_ = unix.Unmount(ref, unix.MNT_DETACH)
	if err := os.RemoveAll(runDir); err != nil {
		errs = append(errs, err.Error())
	}
	return joinErrs(errs)
}

func joinErrs(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}
