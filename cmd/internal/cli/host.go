package cli

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
	"github.com/apptainer/apptainer/internal/pkg/capabilities"
	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

// gatherHost collects the facts the launcher decides on. This is the only
// place where the action commands read the host.
func gatherHost(image string) (launcher.Host, error) {
	h := launcher.Host{
		UID: os.Getuid(), GID: os.Getgid(),
		Environ:        os.Environ(),
		ResolvConf:     "/etc/resolv.conf",
		CapabilityJSON: filepath.Join(buildcfg.ConfDir(), "capability.json"),
		CNIConfDir:     buildcfg.CNIConfDir(),
		CNIPluginDirs:  buildcfg.CNIPluginDirs(),
		CNICacheDir:    filepath.Join(engine.RunRoot(), "cni-cache"),
	}
	u, err := user.LookupId(strconv.Itoa(h.UID))
	if err != nil {
		return h, fmt.Errorf("failed to look up the current user: %w", err)
	}
	h.User, h.HomeDir = u.Username, u.HomeDir
	if home := os.Getenv("HOME"); home != "" {
		h.HomeDir = home
	}
	h.ConfigDir = instance.DefaultConfigDir(os.Getenv, h.HomeDir)
	if h.Cwd, err = os.Getwd(); err != nil {
		h.Cwd = "/"
	}
	h.Hostname, _ = os.Hostname()
	h.Resolv, _ = os.ReadFile(h.ResolvConf)
	if _, err := os.Stat("/etc/localtime"); err == nil {
		h.Localtime = true
	}
	if h.InfinibandDevices, err = hostnet.InfinibandDevices("/dev/infiniband"); err != nil {
		return h, err
	}
	if held, err := capabilities.Held(); err == nil {
		h.HeldCaps = held
	}
	h.ImageHas = func(p string) bool {
		_, err := os.Lstat(filepath.Join(image, p))
		return err == nil
	}
	return h, nil
}

// resolveImage checks the image argument and returns its absolute path.
func resolveImage(arg string) (string, error) {
	abs, err := filepath.Abs(arg)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("could not open image %s: no such file or directory", abs)
	}
	if err != nil {
		return "", fmt.Errorf("could not open image %s: %w", abs, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("image %s is not a sandbox directory: only sandbox (directory) images are supported by this build", abs)
	}
	return abs, nil
}
