package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/apptainer/apptainer/internal/pkg/build"
	"github.com/apptainer/apptainer/internal/pkg/imgcache"
	"github.com/apptainer/apptainer/internal/pkg/ociimage"
	"github.com/apptainer/apptainer/internal/pkg/oras"
)

// ociActionImage makes the SIF that exec, run and shell of an OCI source
// run, as upstream does: kept in the cache's oci-tmp under the image's
// manifest digest and used again while the image is the same; with the
// cache disabled, made in a temporary directory that release removes.
func ociActionImage(arg string, opts ociimage.Options) (sif string, release func(), err error) {
	none := func() {}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	src, err := ociimage.ParseSource(arg, func(p string) bool { _, err := os.Stat(p); return err == nil })
	if err != nil {
		return "", none, err
	}
	bo := build.Options{Source: arg, Force: true, OCI: opts, Warn: func(msg string) { stderrLog.Warningf("%s", msg) }}
	if opts.LayerCache == nil {
		dir, err := os.MkdirTemp("", "apptainer-oci-")
		if err != nil {
			return "", none, err
		}
		release = func() { _ = os.RemoveAll(dir) }
		bo.Out = dir + "/image.sif"
		stderrLog.Infof("Converting OCI blobs to SIF format")
		if err := build.Build(ctx, bo); err != nil {
			release()
			return "", none, err
		}
		return bo.Out, release, nil
	}
	d, err := ociimage.Digest(ctx, src, opts)
	if err != nil {
		return "", none, err
	}
	if bo.Out, err = (imgcache.Cache{Root: cacheRoot(os.Getenv)}).OCISIF(d.Hex); err != nil {
		return "", none, err
	}
	if _, err := os.Stat(bo.Out); err == nil {
		stderrLog.Infof("Using cached SIF image")
		return bo.Out, none, nil
	}
	stderrLog.Infof("Converting OCI blobs to SIF format")
	if err := build.Build(ctx, bo); err != nil {
		return "", none, err
	}
	return bo.Out, none, nil
}

// orasActionImage is the SIF that exec, run and shell of an oras://
// reference run, as upstream has it: the cache's copy, pulled unless a
// copy with the artifact's digest is there; with the cache disabled, a
// download into a temporary directory that release removes.
func orasActionImage(arg string, opts ociimage.Options) (sif string, release func(), err error) {
	none := func() {}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	oo := orasOptions(opts, os.Getenv)
	ref, err := oras.ParseRef(arg, oo.Insecure)
	if err != nil {
		return "", none, err
	}
	a, err := oras.Resolve(ctx, ref, oo)
	if err != nil {
		return "", none, fmt.Errorf("Unable to handle %s uri: %w", arg, err) //nolint:staticcheck // upstream's message
	}
	dir := ""
	release = none
	if oo.Cache == nil {
		if dir, err = os.MkdirTemp("", "apptainer-oras-"); err != nil {
			return "", none, err
		}
		release = func() { _ = os.RemoveAll(dir) }
	}
	sif, _, err = a.Fetch(oo, dir, "image.sif")
	if err != nil {
		release()
		return "", none, fmt.Errorf("Unable to handle %s uri: %w", arg, err) //nolint:staticcheck // upstream's message
	}
	return sif, release, nil
}

// remoteActionImage is the SIF an action runs for an OCI source or an
// oras:// reference; ok is false for any other image argument.
func remoteActionImage(arg string, opts ociimage.Options) (sif string, release func(), ok bool, err error) {
	switch {
	case oras.IsRef(arg):
		sif, release, err = orasActionImage(arg, opts)
	case ociimage.IsSource(arg):
		sif, release, err = ociActionImage(arg, opts)
	default:
		return "", func() {}, false, nil
	}
	return sif, release, true, err
}

// ociInstanceImage is the SIF an instance of an OCI source runs: the one
// in the cache, which outlives the command (an instance uses its image
// for as long as it runs, so a temporary one would not do).
func ociInstanceImage(o *actionOptions, arg string) (string, error) {
	opts, err := o.oci.options(os.Getenv)
	if err != nil {
		return "", err
	}
	if opts.LayerCache == nil {
		return "", errors.New("an instance of an OCI source or oras:// reference runs the SIF kept in the image cache, which is disabled: build or pull the image first")
	}
	sif, _, _, err := remoteActionImage(arg, opts)
	return sif, err
}
