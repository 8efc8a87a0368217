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
		defer releaseIDsOf(f.IDMapHost, f.PPid)
	}
	runDir := f.RunDir
	if runDir == "" || !strings.HasPrefix(runDir, RunRoot()+"/") {
		return nil
	}
	if !ownsRunDir(runDir, f.PPid) {
		// Another store's instance of this name owns the runtime
		// directory and the cgroup now; the ghost never did.
		return nil
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
	if err := releaseGhostNetworks(f, runDir); err != nil {
		errs = append(errs, fmt.Sprintf("could not delete networks: %v", err))
	}
	ref := filepath.Join(runDir, "netns")
	_ = unix.Unmount(ref, unix.MNT_DETACH)
	if err := os.RemoveAll(runDir); err != nil {
		errs = append(errs, err.Error())
	}
	return joinErrs(errs)
}

// releaseGhostNetworks runs CNI DEL for a dead instance: from the saved
// result when ADD finished, else from what was recorded before ADD.
func releaseGhostNetworks(f *instance.File, runDir string) error {
	cfg, err := config.Decode(f.Config)
	if err != nil || cfg.Network == nil {
		return nil
	}
	ncfg := cniConfig(cfg.Network)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b, err := os.ReadFile(filepath.Join(runDir, cniResultFile)); err == nil {
		var res network.Result
		if err := json.Unmarshal(b, &res); err != nil {
			return err
		}
		return network.Detach(ctx, ncfg, res.Attachments)
	}
	b, err := os.ReadFile(filepath.Join(runDir, cniPendingFile))
	if err != nil {
		return nil // ADD never started
	}
	var p cniPending
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	setup, err := network.New(ncfg, cfg.Network.Networks, cfg.Network.Args)
	if err != nil {
		return err
	}
	return setup.Del(ctx, p.ContainerID, p.NetNS)
}

func joinErrs(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}
