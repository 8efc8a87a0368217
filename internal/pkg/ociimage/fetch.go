package ociimage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/apptainer/apptainer/internal/pkg/imgcache"
	"github.com/apptainer/apptainer/internal/pkg/ociauth"
)

// Options say how to reach an image.
type Options struct {
	// Insecure allows plain HTTP with any registry (upstream's --no-https).
	// Without it, registries on loopback, *.local and private addresses
	// may still answer in plain HTTP (go-containerregistry's rule, which
	// extends docker's for localhost); all others must speak HTTPS.
	Insecure bool
	// LayerCache, when set, holds registry layers by digest: a layer found
	// there is not downloaded again, and one downloaded is kept there.
	LayerCache *imgcache.BlobStore
	// Platform picks the image of a multi-platform index; nil is
	// linux on this machine's architecture.
	Platform *v1.Platform
	// TmpDir receives the unpacked OCI layout of an oci-archive; "" is
	// the system's temporary directory.
	TmpDir string
	// Auth, when set, is the registry credential to use; otherwise
	// Keychain finds one per registry (nil: docker's config file).
	Auth     *authn.AuthConfig
	Keychain authn.Keychain
}

func (o Options) platform() v1.Platform {
	if o.Platform != nil {
		return *o.Platform
	}
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// refNameAnnotation names an image in an OCI layout's index.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Image finds the image a source names. The returned release function
// removes what finding it left on disk (an unpacked oci-archive); call it
// once the image has been read.
func Image(ctx context.Context, s Source, o Options) (v1.Image, func(), error) {
	none := func() {}
	switch s.Transport {
	case TransportDocker:
		img, err := remoteImage(ctx, s.Ref, o)
		return img, none, err
	case TransportDockerArchive:
		img, err := dockerArchiveImage(s)
		return img, none, err
	case TransportOCI:
		img, err := layoutImage(s.Path, s.Ref, o.platform())
		return img, none, err
	case TransportOCIArchive:
		dir, err := os.MkdirTemp(o.TmpDir, "apptainer-oci-archive-")
		if err != nil {
			return nil, none, fmt.Errorf("failed to create a directory for %s: %w", s, err)
		}
		release := func() { _ = os.RemoveAll(dir) }
		if err := untarLayout(s.Path, dir); err != nil {
			release()
			return nil, none, err
		}
		img, err := layoutImage(dir, s.Ref, o.platform())
		if err != nil {
			release()
			return nil, none, fmt.Errorf("%s: %w", s.Path, err)
		}
		return img, release, nil
	}
	return nil, none, fmt.Errorf("%w: transport %q", ErrSource, s.Transport)
}

func remoteImage(ctx context.Context, ref string, o Options) (v1.Image, error) {
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%w docker://%s: %v", ErrSource, ref, err)
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	auth := remote.WithAuthFromKeychain(kc)
	if o.Auth != nil {
		auth = remote.WithAuth(authn.FromConfig(*o.Auth))
	}
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(o.platform()), auth, remote.WithTransport(ociauth.Transport(o.Insecure)))
	if err != nil {
		return nil, fmt.Errorf("failed to get image docker://%s: %w", ref, err)
	}
	if o.LayerCache != nil {
		img = cachedImage{Image: img, store: o.LayerCache}
	}
	return img, nil
}

// cachedImage reads its layers through the blob store.
type cachedImage struct {
	v1.Image
	store *imgcache.BlobStore
}

func (i cachedImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for n, l := range ls {
		if out[n], err = i.store.Layer(l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func dockerArchiveImage(s Source) (v1.Image, error) {
	var tag *name.Tag
	if s.Ref != "" {
		t, err := name.NewTag(s.Ref)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %v", ErrSource, s, err)
		}
		tag = &t
	}
	if _, err := os.Stat(s.Path); err != nil {
		return nil, fmt.Errorf("failed to open docker archive: %w", err)
	}
	img, err := tarball.ImageFromPath(s.Path, tag)
	if err != nil {
		return nil, fmt.Errorf("failed to read docker archive %s: %w", s.Path, err)
	}
	return img, nil
}

// layoutImage picks an image out of an OCI layout: the one whose ref name
// (or digest) is ref, or the only one when ref is empty.
func layoutImage(dir, ref string, plat v1.Platform) (v1.Image, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("failed to open OCI layout: %w", err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to read OCI layout %s: %w", dir, err)
	}
	return pickImage(idx, ref, plat, 0)
}

// maxIndexDepth bounds nested indexes, which a hostile layout could make
// loop.
const maxIndexDepth = 4

func pickImage(idx v1.ImageIndex, ref string, plat v1.Platform, depth int) (v1.Image, error) {
	if depth > maxIndexDepth {
		return nil, errors.New("image indexes nested too deep")
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("failed to read image index: %w", err)
	}
	d, err := chooseDescriptor(m.Manifests, ref, plat)
	if err != nil {
		return nil, err
	}
	switch {
	case d.MediaType.IsIndex():
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("failed to read image index %s: %w", d.Digest, err)
		}
		return pickImage(child, "", plat, depth+1)
	case d.MediaType.IsImage():
		return idx.Image(d.Digest)
	}
	return nil, fmt.Errorf("%s: unsupported media type %q", d.Digest, d.MediaType)
}

// chooseDescriptor picks one entry of an index: by ref name or digest
// when ref is set; else the only entry, or the one for plat among
// several platform-specific ones.
func chooseDescriptor(ds []v1.Descriptor, ref string, plat v1.Platform) (v1.Descriptor, error) {
	if ref != "" {
		var names []string
		for _, d := range ds {
			if d.Annotations[refNameAnnotation] == ref || d.Digest.String() == ref {
				return d, nil
			}
			if n := d.Annotations[refNameAnnotation]; n != "" {
				names = append(names, n)
			}
		}
		return v1.Descriptor{}, fmt.Errorf("no image named %q in the OCI layout (it has: %s)", ref, strings.Join(names, ", "))
	}
	if len(ds) == 1 {
		return ds[0], nil
	}
	var platforms []string
	for _, d := range ds {
		if d.Platform != nil && d.Platform.Satisfies(plat) {
			return d, nil
		}
		if d.Platform != nil {
			platforms = append(platforms, d.Platform.String())
		}
	}
	switch {
	case len(ds) == 0:
		return v1.Descriptor{}, errors.New("the OCI layout holds no image")
	case len(platforms) == len(ds):
		return v1.Descriptor{}, fmt.Errorf("no image for %s (there are: %s)", plat.String(), strings.Join(platforms, ", "))
	}
	return v1.Descriptor{}, fmt.Errorf("the OCI layout holds %d images: name one after the path (:NAME)", len(ds))
}

// untarLayout unpacks an oci-archive (a tar of an OCI layout) into dir.
// Only directories and regular files with names inside dir are taken:
// anything else in a layout is not needed to read it, and a hostile
// archive must not write elsewhere.
func untarLayout(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("failed to open OCI archive: %w", err)
	}
	defer f.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("failed to read OCI archive %s: %w", archive, err)
		}
		n := strings.TrimPrefix(filepath.Clean(h.Name), "./")
		if n == "." {
			continue
		}
		if !filepath.IsLocal(n) {
			return fmt.Errorf("OCI archive %s: entry %q: %w", archive, h.Name, ErrEscape)
		}
		if err := untarLayoutEntry(root, n, h, tr); err != nil {
			return fmt.Errorf("OCI archive %s: entry %q: %w", archive, h.Name, err)
		}
	}
}

func untarLayoutEntry(root *os.Root, n string, h *tar.Header, r io.Reader) error {
	switch h.Typeflag {
	case tar.TypeDir:
		return root.MkdirAll(n, 0o755)
	case tar.TypeReg:
		if err := root.MkdirAll(filepath.Dir(n), 0o755); err != nil {
			return err
		}
		w, err := root.OpenFile(n, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, r)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil
}

// Extract unpacks the image s names into rootfs and returns its run
// configuration (environment, entrypoint, command, working directory,
// labels).
func Extract(ctx context.Context, s Source, o Options, rootfs string, warn func(string)) (v1.Config, error) {
	img, release, err := Image(ctx, s, o)
	if err != nil {
		return v1.Config{}, err
	}
	defer release()
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Config{}, fmt.Errorf("failed to read the image config of %s: %w", s, err)
	}
	if err := Unpack(ctx, img, rootfs, warn); err != nil {
		return v1.Config{}, fmt.Errorf("failed to unpack %s: %w", s, err)
	}
	return cf.Config, nil
}

// Digest returns the digest of the image's manifest (for an index, of the
// image chosen in it): what names the image for a cache. For a registry
// only the manifest is fetched.
func Digest(ctx context.Context, s Source, o Options) (v1.Hash, error) {
	img, release, err := Image(ctx, s, o)
	if err != nil {
		return v1.Hash{}, err
	}
	defer release()
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("failed to read the manifest of %s: %w", s, err)
	}
	return d, nil
}
