package oras

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/imgcache"
)

// Artifact is a SIF artifact found in a registry: its manifest has been
// read and checked, its SIF not yet downloaded.
type Artifact struct {
	// Manifest is the digest of the artifact's manifest.
	Manifest v1.Hash
	// SIF describes the layer that is the SIF file.
	SIF v1.Descriptor
	img v1.Image
}

// Resolve reads the manifest ref names (for an index, the one of the
// platform asked for) and checks that it is a SIF artifact.
func Resolve(ctx context.Context, ref name.Reference, o Options) (*Artifact, error) {
	img, err := remote.Image(ref, append(o.remoteOptions(), remote.WithContext(ctx))...)
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	l, err := SIFLayer(m)
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	return &Artifact{Manifest: d, SIF: l, img: img}, nil
}

// open starts the download of the SIF blob.
func (a *Artifact) open() (io.ReadCloser, error) {
	l, err := a.img.LayerByDigest(a.SIF.Digest)
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

// checkSIF accepts a downloaded file only if it is a runnable SIF: a
// registry may serve anything under the SIF media type.
func checkSIF(path string) error {
	_, err := image.ReadSIF(path)
	if errors.Is(err, image.ErrNotSIF) {
		return fmt.Errorf("the artifact's layer is %w", ErrNotSIF)
	}
	if err != nil {
		return fmt.Errorf("the artifact's layer is not a usable SIF: %w", err)
	}
	return nil
}

// Fetch gives the path of the artifact's SIF on disk. With a cache, the
// cache's copy (downloaded now unless a copy with the right digest is
// there: cached tells); without one, the SIF is downloaded to dir/base.
// Either way the download is checked against the layer's digest and size
// as it is written and is a SIF, or nothing is left of it.
func (a *Artifact) Fetch(o Options, dir, base string) (path string, cached bool, err error) {
	open := func() (io.ReadCloser, error) {
		o.progress("Downloading oras image")
		return a.open()
	}
	if o.Cache != nil {
		path, cached, err = o.Cache.Get(a.SIF.Digest, a.SIF.Size, open, checkSIF)
		if cached {
			o.progress("Using cached SIF image")
		}
		return path, cached, err
	}
	path = filepath.Join(dir, base)
	rc, err := open()
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	if err := imgcache.WriteVerified(path, rc, a.SIF.Digest, a.SIF.Size, 0o777, checkSIF); err != nil {
		return "", false, err
	}
	return path, false, nil
}

// PullTo writes the artifact's SIF to out, replacing what is there (the
// caller decides whether it may): through the cache when there is one,
// else straight from the registry. out changes only once the whole SIF
// has been checked.
func (a *Artifact) PullTo(o Options, out string) (cached bool, err error) {
	if o.Cache == nil {
		_, _, err := a.Fetch(o, filepath.Dir(out), filepath.Base(out))
		return false, err
	}
	src, cached, err := a.Fetch(o, "", "")
	if err != nil {
		return false, err
	}
	f, err := os.Open(src)
	if err != nil {
		return cached, err
	}
	defer f.Close()
	// Checked again on the way out: the cache is a directory the user
	// can write to, and the copy must be what the registry named.
	return cached, imgcache.WriteVerified(out, f, a.SIF.Digest, a.SIF.Size, 0o777, checkSIF)
}
