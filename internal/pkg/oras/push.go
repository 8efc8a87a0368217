package oras

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/apptainer/apptainer/internal/pkg/image"
)

// emptyConfig is the artifact's config blob: the empty JSON object, as
// upstream writes it.
var emptyConfig = []byte("{}")

// Push uploads the SIF file to ref as an ORAS artifact and returns the
// digest of its manifest. annotations go on the manifest, with the SIF's
// creation time under AnnotationCreated unless they set it. A file that
// is not a runnable SIF is refused before anything is sent.
func Push(ctx context.Context, file string, ref name.Reference, annotations map[string]string, o Options) (v1.Hash, error) {
	s, err := image.ReadSIF(file)
	if errors.Is(err, image.ErrNotSIF) {
		return v1.Hash{}, fmt.Errorf("%q is %w", file, ErrNotSIF)
	}
	if err != nil {
		return v1.Hash{}, err
	}
	art, err := newArtifact(file, s.Created, annotations)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := partial.CompressedToImage(art)
	if err != nil {
		return v1.Hash{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(ref, img, append(o.remoteOptions(), remote.WithContext(ctx))...); err != nil {
		return v1.Hash{}, err
	}
	return d, nil
}

// artifact is a SIF file as an image go-containerregistry can upload:
// the manifest, the empty config and the file as the one layer.
type artifact struct {
	manifest []byte
	layer    sifLayer
}

// newArtifact hashes the file and writes the manifest.
func newArtifact(file string, created time.Time, annotations map[string]string) (*artifact, error) {
	l := sifLayer{path: file}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if l.size, err = io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", file, err)
	}
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	m := Manifest(l.digest, l.size, filepath.Base(file), created, annotations)
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &artifact{manifest: raw, layer: l}, nil
}

// Manifest is the manifest of a SIF artifact: upstream's layout.
func Manifest(layer v1.Hash, size int64, title string, created time.Time, annotations map[string]string) v1.Manifest {
	sum := sha256.Sum256(emptyConfig)
	ann := map[string]string{}
	if !created.IsZero() && created.Unix() > 0 {
		ann[AnnotationCreated] = created.UTC().Format(time.RFC3339)
	}
	for k, v := range annotations {
		ann[k] = v
	}
	if len(ann) == 0 {
		ann = nil
	}
	return v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config: v1.Descriptor{
			MediaType: ConfigMediaType,
			Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
			Size:      int64(len(emptyConfig)),
			Data:      emptyConfig,
		},
		Layers: []v1.Descriptor{{
			MediaType:   LayerMediaType,
			Digest:      layer,
			Size:        size,
			Annotations: map[string]string{AnnotationTitle: title},
		}},
		Annotations: ann,
	}
}

func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyConfig, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h != a.layer.digest {
		return nil, fmt.Errorf("the SIF artifact has no layer %s", h)
	}
	return a.layer, nil
}

// sifLayer is the SIF file as the artifact's layer, read afresh for each
// upload attempt.
type sifLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

func (l sifLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l sifLayer) Size() (int64, error)                { return l.size, nil }
func (l sifLayer) MediaType() (types.MediaType, error) { return LayerMediaType, nil }
func (l sifLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
