package cli

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/apptainer/apptainer/internal/pkg/instance"
)

// An instance that an ordinary user started without root has no record
// of root's (its monitor runs as the user): everything about it is in
// files the user writes. Root acting on it with -u (stop, stats) does so
// as the user, by running this command again with the user's ids: the
// kernel then checks what the file names against the user's rights, and
// a forged file gains the user nothing, whatever root would do with it.

// startedByUser reports whether f, from the store paths of an ordinary
// user, describes an instance that the user started without root: its
// runtime directory is in the user's store (instance.Paths.RunParent).
func startedByUser(paths instance.Paths, f *instance.File) bool {
	return paths.User != "root" && f.RunDir == paths.RunDir(f.Name)
}

// asUserCommand is this program run with args as user username, with the
// user's groups, home directory and a minimal environment, its output on
// ours.
func asUserCommand(username string, args ...string) (*exec.Cmd, error) {
	u, err := user.Lookup(username)
	if err != nil {
		return nil, fmt.Errorf("failed to look up user %s: %w", username, err)
	}
	uid, uerr := strconv.ParseUint(u.Uid, 10, 32)
	gid, gerr := strconv.ParseUint(u.Gid, 10, 32)
	if uerr != nil || gerr != nil || uid == 0 {
		return nil, fmt.Errorf("user %s has ids %s:%s, not an ordinary user's", username, u.Uid, u.Gid)
	}
	groups := []uint32{uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil && n != gid {
				groups = append(groups, uint32(n))
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = "/"
	cmd.Env = []string{"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username, "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	return cmd, nil
}

// runAsUser runs this program with args as user username and says how it
// ended.
func runAsUser(username string, args ...string) error {
	cmd, err := asUserCommand(username, args...)
	if err != nil {
		return err
	}
	stderrLog.Verbosef("acting as user %s on an instance the user started without root: %s", username, filepath.Base(cmd.Path))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apptainer %v as user %s: %w", args, username, err)
	}
	return nil
}
