package launcher

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

// ImageFacts are what apptainer.conf's image restrictions look at. The CLI
// reads them from the image it resolved.
type ImageFacts struct {
	// Kind is a sandbox directory or a SIF file.
	Kind image.Kind
	// RealPath is the image's absolute path with every link resolved.
	RealPath string
	// Owner and Group name the image's owning user and group ("" when
	// the id has no name).
	Owner, Group string
}

// checkImageAllowed applies the administrator's restrictions on images,
// in upstream's order and with its messages. As upstream's, they bind root
// too: an administrator who sets one means it for every caller.
func checkImageAllowed(conf *apptainerconf.File, h Host) error {
	img := h.Image
	restricted := len(conf.LimitContainerPaths) > 0 || len(conf.LimitContainerGroups) > 0 ||
		len(conf.LimitContainerOwners) > 0 || !conf.AllowContainerDir || !conf.AllowContainerSIF
	if !restricted {
		return nil
	}
	if img.Kind == "" || img.RealPath == "" {
		return fmt.Errorf("%w: apptainer.conf restricts images, and nothing is known of this one", ErrPermission)
	}
	if len(conf.LimitContainerPaths) > 0 && !underAny(img.RealPath, conf.LimitContainerPaths, h.Realpath) {
		return fmt.Errorf("%w: apptainer image is not in an allowed configured path", ErrPermission)
	}
	if len(conf.LimitContainerGroups) > 0 && (img.Group == "" || !slices.Contains(conf.LimitContainerGroups, img.Group)) {
		return fmt.Errorf("%w: apptainer image is not owned by required group(s)", ErrPermission)
	}
	if len(conf.LimitContainerOwners) > 0 && (img.Owner == "" || !slices.Contains(conf.LimitContainerOwners, img.Owner)) {
		return fmt.Errorf("%w: apptainer image is not owned by required user(s)", ErrPermission)
	}
	switch {
	case img.Kind == image.KindSandbox && !conf.AllowContainerDir:
		return fmt.Errorf("%w: configuration disallows users from running sandbox containers", ErrPermission)
	case img.Kind == image.KindSIF && !conf.AllowContainerSIF:
		// This build runs no encrypted SIF, so every SIF is an
		// unencrypted one.
		return fmt.Errorf("%w: configuration disallows users from running unencrypted SIF containers", ErrPermission)
	}
	return nil
}

// underAny reports whether path is one of dirs or below one. The entries
// are resolved as the image path was (realpath, when the host gives one),
// and compared by whole components: "/data" does not admit "/database".
func underAny(path string, dirs []string, realpath func(string) string) bool {
	for _, d := range dirs {
		d = filepath.Clean(d)
		if realpath != nil {
			d = realpath(d)
		}
		if path == d || strings.HasPrefix(path, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// checkMountConf refuses what apptainer.conf forbids and this container
// cannot do without: every container needs its /proc, a booted init also
// /sys, a /dev and a devpts,
// and every root but a --writable one is an overlay on the image (the
// runtime makes its mount points in the overlay's upper layer).
func checkMountConf(o Options, conf *apptainerconf.File) error {
	if err := checkOverlay(o); err != nil {
		return err
	}
	if !conf.MountProc {
		// The container's setup reads its own /proc after the pivot (the
		// capability sets, the shim of an instance).
		return fmt.Errorf("%w: apptainer.conf sets \"mount proc = no\", which this build cannot honour: a container's setup reads /proc inside it; set \"mount proc = yes\"", ErrPermission)
	}
	if o.Boot {
		for _, off := range []struct {
			set  bool
			line string
		}{
			{!conf.MountSys, "mount sys = no"},
			{conf.MountDev == apptainerconf.MountDevNo, "mount dev = no"},
			{!conf.MountDevPts, "mount devpts = no"},
		} {
			if off.set {
				return fmt.Errorf("%w: --boot needs /proc, /sys, /dev and /dev/pts, and apptainer.conf sets %q", ErrPermission, off.line)
			}
		}
	}
	if conf.EnableOverlay == apptainerconf.OverlayNo && rootfsMode(o) != config.RootfsWritable {
		return fmt.Errorf("%w: apptainer.conf sets \"enable overlay = no\", and this build stacks an overlay on every image not run with --writable (its mount points are made in the overlay); use --writable on a sandbox, or set \"enable overlay\" to yes, try or driver", ErrPermission)
	}
	return nil
}
