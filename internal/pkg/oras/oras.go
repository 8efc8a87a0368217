// Package oras keeps SIF files in OCI registries as ORAS artifacts, laid
// out as upstream Apptainer lays them out, so that each pulls what the
// other pushed: an OCI image manifest whose config is the empty JSON
// object with the media type ConfigMediaType, and whose single layer is
// the SIF file itself, with the media type LayerMediaType and the file's
// name as its title. go-containerregistry speaks the registry protocol.
//
// oras.go parses references and checks manifests; push.go uploads a SIF;
// pull.go downloads one, verified against its digest, into a file or
// the cache.
package oras

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/apptainer/apptainer/internal/pkg/imgcache"
)

// Media types of upstream's SIF artifacts.
const (
	ConfigMediaType types.MediaType = "application/vnd.sylabs.sif.config.v1+json"
	LayerMediaType  types.MediaType = "application/vnd.sylabs.sif.layer.v1.sif"
	// LayerMediaTypeProto is what Singularity before 3.7 pushed (the
	// misspelling is theirs); upstream still pulls it, and so do we.
	LayerMediaTypeProto types.MediaType = "appliciation/vnd.sylabs.sif.layer.tar"
)

// Annotation keys of the OCI image spec that a push sets.
const (
	AnnotationTitle       = "org.opencontainers.image.title"
	AnnotationCreated     = "org.opencontainers.image.created"
	AnnotationDescription = "org.opencontainers.image.description"
)

// Prefix starts every oras reference.
const Prefix = "oras://"

// ErrRef: an argument that is no oras reference, or one written wrongly.
var ErrRef = errors.New("invalid oras reference")

// ErrNotSIF: the artifact, or the file to push, is not a SIF.
var ErrNotSIF = errors.New("not a SIF")

// IsRef reports whether arg is an oras:// reference.
func IsRef(arg string) bool { return strings.HasPrefix(arg, Prefix) }

// ParseRef parses oras://[HOST[:PORT]/]NAME[:TAG|@DIGEST]; the tag is
// "latest" when none is given and the registry Docker Hub when none is,
// as upstream has it. insecure allows plain HTTP with the registry.
func ParseRef(arg string, insecure bool) (name.Reference, error) {
	if strings.ContainsFunc(arg, unicode.IsControl) {
		return nil, fmt.Errorf("%w %q: control characters in it", ErrRef, arg)
	}
	rest, ok := strings.CutPrefix(arg, Prefix)
	rest = strings.TrimLeft(rest, "/")
	if !ok || rest == "" {
		return nil, fmt.Errorf("%w %q: want oras://[HOST[:PORT]/]NAME[:TAG|@DIGEST]", ErrRef, arg)
	}
	opts := []name.Option{name.WithDefaultTag(name.DefaultTag), name.WithDefaultRegistry(name.DefaultRegistry)}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(rest, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrRef, arg, err)
	}
	return ref, nil
}

// Options say how to reach the registry and where to keep what is pulled.
type Options struct {
	// Insecure allows plain HTTP with any registry (--no-https).
	Insecure bool
	// Transport, when set, carries every registry request (the CLI's
	// policy of which hosts may be spoken to in plain HTTP); nil is
	// go-containerregistry's default.
	Transport http.RoundTripper
	// Auth, when set, is the credential to use; otherwise Keychain finds
	// one per registry (nil: docker's config file).
	Auth     *authn.AuthConfig
	Keychain authn.Keychain
	// Platform picks the artifact of an index; nil is linux on this
	// machine's architecture, as upstream asks.
	Platform *v1.Platform
	// Cache, when set, keeps pulled SIF files by digest (upstream's
	// "oras" cache type); nil pulls straight to the output.
	Cache *imgcache.FileStore
	// Progress, when set, is told what a pull does: a download, or the
	// use of the cache's copy.
	Progress func(msg string)
}

func (o Options) progress(msg string) {
	if o.Progress != nil {
		o.Progress(msg)
	}
}

func (o Options) remoteOptions() []remote.Option {
	plat := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if o.Platform != nil {
		plat = *o.Platform
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	auth := remote.WithAuthFromKeychain(kc)
	if o.Auth != nil {
		auth = remote.WithAuth(authn.FromConfig(*o.Auth))
	}
	opts := []remote.Option{remote.WithPlatform(plat), auth}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

// SIFLayer checks that a manifest is a SIF artifact, as upstream checks
// it, and returns the descriptor of the SIF: exactly one layer, of one
// of the SIF media types. The config's media type is not looked at:
// upstream has not always set it the same way. The layer must also name
// its content by sha256 with a size, which the download is checked
// against.
func SIFLayer(m *v1.Manifest) (v1.Descriptor, error) {
	if len(m.Layers) != 1 {
		return v1.Descriptor{}, fmt.Errorf("ORAS SIF image should have a single layer, found %d (%w)", len(m.Layers), ErrNotSIF)
	}
	l := m.Layers[0]
	if l.MediaType != LayerMediaType && l.MediaType != LayerMediaTypeProto {
		// The registry chose this text: quoted, so that it prints inert.
		return v1.Descriptor{}, fmt.Errorf("invalid layer mediatype: %q (%w)", string(l.MediaType), ErrNotSIF)
	}
	if imgcache.CheckSHA256(l.Digest) != nil {
		return v1.Descriptor{}, fmt.Errorf("the SIF layer's digest %q is not a sha256 (%w)", l.Digest.String(), ErrNotSIF)
	}
	if l.Size <= 0 {
		return v1.Descriptor{}, fmt.Errorf("the SIF layer has size %d (%w)", l.Size, ErrNotSIF)
	}
	return l, nil
}
