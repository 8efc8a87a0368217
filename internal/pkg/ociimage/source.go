// Package ociimage turns an OCI or Docker image into a root file system
// directory and the image's run configuration. The image comes from a
// registry (docker://), a `docker save` archive (docker-archive:), an OCI
// layout directory (oci:) or a tar of one (oci-archive:).
//
// source.go parses the source argument; fetch.go finds the image it names
// (go-containerregistry does the reading); unpack.go applies its layers,
// which are hostile input, inside the root file system.
package ociimage

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Transports this package reads, as upstream spells them.
const (
	TransportDocker        = "docker"
	TransportDockerArchive = "docker-archive"
	TransportOCIArchive    = "oci-archive"
	TransportOCI           = "oci"
)

// Transports lists them, for messages and for the definition parser
// (each is also a Bootstrap agent).
var Transports = []string{TransportDocker, TransportDockerArchive, TransportOCIArchive, TransportOCI}

// ErrSource: the argument is not a source this package reads, or is one
// written wrongly.
var ErrSource = errors.New("invalid image source")

// Source is a parsed image source.
type Source struct {
	// Transport is one of the Transport* constants.
	Transport string
	// Ref is, for docker, the registry reference (HOST[:PORT]/NAME[:TAG|@DIGEST]
	// or a Docker Hub short name); for the others the optional image name
	// after the path (a tag in a docker archive, an org.opencontainers.image.ref.name
	// in an OCI layout).
	Ref string
	// Path is the archive file or layout directory of the local transports.
	Path string
}

// String gives the source back in upstream's URI form.
func (s Source) String() string {
	switch {
	case s.Transport == TransportDocker:
		return "docker://" + s.Ref
	case s.Ref != "":
		return s.Transport + ":" + s.Path + ":" + s.Ref
	}
	return s.Transport + ":" + s.Path
}

// IsSource reports whether arg starts with a transport this package reads.
func IsSource(arg string) bool {
	scheme, _, ok := strings.Cut(arg, ":")
	if !ok {
		return false
	}
	for _, t := range Transports {
		if scheme == t {
			return true
		}
	}
	return false
}

// ParseSource parses "docker://REF", "docker-archive:FILE[:REF]",
// "oci-archive:FILE[:REF]" or "oci:DIR[:REF]". A path may itself hold a
// colon, and so may REF: exists tells where the path ends.
func ParseSource(arg string, exists func(string) bool) (Source, error) {
	scheme, rest, ok := strings.Cut(arg, ":")
	if strings.ContainsFunc(arg, unicode.IsControl) {
		return Source{}, fmt.Errorf("%w %q: control characters in it", ErrSource, arg)
	}
	if !ok || !IsSource(arg) {
		return Source{}, fmt.Errorf("%w %q: want one of %s followed by \":\"", ErrSource, arg, strings.Join(Transports, ", "))
	}
	if scheme == TransportDocker {
		ref, ok := strings.CutPrefix(rest, "//")
		if !ok || ref == "" {
			return Source{}, fmt.Errorf("%w %q: want docker://[HOST[:PORT]/]NAME[:TAG|@DIGEST]", ErrSource, arg)
		}
		return Source{Transport: scheme, Ref: ref}, nil
	}
	// "oci-archive://x.tar" is accepted as upstream accepts it.
	rest = strings.TrimPrefix(rest, "//")
	if rest == "" {
		return Source{}, fmt.Errorf("%w %q: no path after %s:", ErrSource, arg, scheme)
	}
	return splitPathRef(scheme, rest, exists), nil
}

// splitPathRef splits "PATH[:REF]", where both may hold colons (REF
// "name:tag"): PATH is the longest prefix that exists; when none does,
// the part before the first colon, for the error to name.
func splitPathRef(scheme, rest string, exists func(string) bool) Source {
	s := Source{Transport: scheme, Path: rest}
	if exists(rest) {
		return s
	}
	for i := strings.LastIndex(rest, ":"); i > 0; i = strings.LastIndex(rest[:i], ":") {
		if exists(rest[:i]) {
			s.Path, s.Ref = rest[:i], rest[i+1:]
			return s
		}
	}
	if p, ref, ok := strings.Cut(rest, ":"); ok && p != "" {
		s.Path, s.Ref = p, ref
	}
	return s
}
