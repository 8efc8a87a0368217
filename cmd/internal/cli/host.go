package cli

import (
	"errors"
	"fmt"
	"github.com/apptainer/apptainer/internal/pkg/subid"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
	"github.com/apptainer/apptainer/internal/pkg/capabilities"
	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

// gatherHost collects the facts the launcher decides on. This is the only
// place where the action commands read the host.
func gatherHost(img string) (launcher.Host, error) {
	h := launcher.Host{
		UID: os.Getuid(), GID: os.Getgid(),
		Environ:    os.Environ(),
		ResolvConf: "/etc/resolv.conf",
		RootFileCaps: func() ([]string, error) {
			return capabilities.RootFromFile(filepath.Join(buildcfg.ConfDir(), "capability.json"))
		},
		CNIConfDir:    buildcfg.CNIConfDir(),
		CNIPluginDirs: buildcfg.CNIPluginDirs(),
		RunRoot:       engine.RunRoot(),
		CNICacheDir:   filepath.Join(engine.RunRoot(), "cni-cache"),
	}
	u, err := user.LookupId(strconv.Itoa(h.UID))
	if err != nil {
		return h, fmt.Errorf("failed to look up the current user: %w", err)
	}
	h.User, h.HomeDir = u.Username, u.HomeDir
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if id, err := strconv.Atoi(g); err == nil {
				h.GIDs = append(h.GIDs, id)
			}
			if grp, err := user.LookupGroupId(g); err == nil {
				h.Groups = append(h.Groups, grp.Name)
			}
		}
	}
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
	h.ImageHas = image.HasFunc(img)
	if h.Image, err = imageFacts(img); err != nil {
		return h, err
	}
	h.Realpath = func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return p
	}
	return h, nil
}

// imageFacts reads what apptainer.conf's image restrictions look at.
func imageFacts(img string) (launcher.ImageFacts, error) {
	var f launcher.ImageFacts
	kind, err := image.Detect(img)
	if err != nil {
		return f, err
	}
	f.Kind = kind
	if f.RealPath, err = filepath.EvalSymlinks(img); err != nil {
		return f, fmt.Errorf("could not resolve image path %s: %w", img, err)
	}
	fi, err := os.Stat(f.RealPath)
	if err != nil {
		return f, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10)); err == nil {
			f.Owner = u.Username
		}
		if g, err := user.LookupGroupId(strconv.FormatUint(uint64(st.Gid), 10)); err == nil {
			f.Group = g.Name
		}
	}
	return f, nil
}

// resolveImage checks the image argument and returns its absolute path.
func resolveImage(arg string) (string, error) {
	if err := image.CheckLocal(arg); err != nil {
		return "", err
	}
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
	if fi.IsDir() {
		return abs, nil
	}
	// A file must be a SIF whose root partition can be found; checking
	// here gives a clear error before any namespace or instance exists.
	if _, err := image.ReadSIF(abs); err != nil {
		return "", err
	}
	return abs, nil
}

// subIDsOf looks up h's user's subordinate ids for --fakeroot.
func subIDsOf(h launcher.Host) (uids, gids launcher.SubIDs) {
	uids.Range, uids.Err = subid.Lookup(subid.UIDFile, h.User, h.UID)
	gids.Range, gids.Err = subid.Lookup(subid.GIDFile, h.User, h.UID)
	return uids, gids
}
