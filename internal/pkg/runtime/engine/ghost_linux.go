package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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
// It is the instance.Paths OnGhost hook of the CLI, for root's own store.
//
// f, from the store, only names the ghost: every value acted on comes from
// the monitor's record (see record_linux.go). Nothing is done unless the
// record is of an instance started from this store by the monitor f
// names, and that monitor is gone; a live instance of the same name,
// started from another store, owns the runtime directory then.
func ReleaseGhost(paths instance.Paths, f *instance.File) error {
	runDir := instanceRunDir(paths.User, f.Name)
	unlock, err := instance.LockDir(filepath.Dir(runDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	t, err := Trusted(paths, f)
	if err != nil {
		return nil // nothing of this file's is ours to release
	}
	if instance.Alive(t) {
		return nil
	}
	if owner, ok := runDirOwner(runDir); !ok || owner != t.PPid {
		return nil
	}
	var errs []string
	if t.IDMapHost != 0 {
		defer releaseIDsOf(t.IDMapHost, t.PPid)
	}
	for _, cg := range t.CgroupPaths {
		_ = writeBeneath(cg, "cgroup.kill", "1")
		if err := cgroup.Remove(cg, 3*time.Second); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := releaseGhostNetworks(t, runDir); err != nil {
		errs = append(errs, fmt.Sprintf("could not delete networks: %v", err))
	}
	ref := filepath.Join(runDir, "netns")
	_ = unix.Unmount(ref, unix.MNT_DETACH)
	if err := removeRunDir(runDir); err != nil {
		errs = append(errs, err.Error())
	}
	return joinErrs(errs)
}

// ReleaseUserGhost is ReleaseGhost for an ordinary user's own store: the
// user's dead instance had no cgroup, network or id range of the host's,
// only its runtime directory in the user's configuration directory, which
// is removed if the dead monitor f names owned it. Everything is the
// user's, acted on with the user's privileges; the checks only keep a
// damaged file from removing another directory.
func ReleaseUserGhost(paths instance.Paths, f *instance.File) error {
	parent := paths.RunParent()
	if f.RunDir != paths.RunDir(f.Name) || instance.CheckName(f.Name) != nil {
		return nil
	}
	unlock, err := instance.LockDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	if instance.Alive(f) {
		return nil
	}
	if owner, ok := runDirOwner(f.RunDir); !ok || owner != f.PPid {
		return nil
	}
	return removeRunDir(f.RunDir)
}

// writeBeneath writes data into file name of directory dir without
// following a symbolic link: the cgroup of an instance in a user
// namespace is delegated to the instance's root.
func writeBeneath(dir, name, data string) error {
	fh, err := openBeneath(dir, name, unix.O_WRONLY)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = fh.WriteString(data)
	return err
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
