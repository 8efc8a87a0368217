// Package image reads container images: it tells a sandbox directory from
// a SIF file, finds a SIF's primary system partition, reads files out of
// either kind without mounting it, and (in the container stage) mounts a
// SIF's squashfs read-only through a loop device.
//
// Reading is pure file I/O and runs anywhere; mounting needs root and a
// private mount namespace, because the loop device is set to clear itself
// when its last mount goes away, which is when that namespace dies.
package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Kind says what an image path holds.
type Kind string

const (
	// KindSandbox is a directory holding a root filesystem.
	KindSandbox Kind = "sandbox"
	// KindSIF is a Singularity Image Format file.
	KindSIF Kind = "sif"
)

// Error classes callers can branch on with errors.Is.
var (
	// ErrNotSIF: the file is not a SIF (no SIF magic in its header).
	ErrNotSIF = errors.New("not a SIF file")
	// ErrCorrupt: the file claims to be a SIF but its header, descriptors
	// or data do not hold together (truncated, overwritten, bad offsets).
	ErrCorrupt = errors.New("corrupt SIF file")
	// ErrNoPartition: the SIF has no primary system partition to run.
	ErrNoPartition = errors.New("no primary system partition")
	// ErrUnsupported: a partition type this runtime cannot mount.
	ErrUnsupported = errors.New("unsupported image")
)

// sifMagic sits after the 32-byte launch script in every SIF header.
var sifMagic = []byte("SIF_MAGIC")

const (
	launchLen = 32
	// headerLen is the size of the SIF global header (v1): launch script,
	// magic, version, arch, uuid, five times and sizes. A file shorter than
	// this cannot be a complete SIF.
	headerLen = 128
)

// HasSIFMagic reports whether b starts like a SIF global header.
func HasSIFMagic(b []byte) bool {
	return len(b) >= launchLen+len(sifMagic) && bytes.Equal(b[launchLen:launchLen+len(sifMagic)], sifMagic)
}

// Detect tells what path is: a sandbox directory or a SIF file. Any other
// file is ErrNotSIF.
func Detect(path string) (Kind, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("failed to open image %q: %w", path, err)
	}
	if fi.IsDir() {
		return KindSandbox, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("failed to open image %q: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, headerLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("failed to read image %q: %w", path, err)
	}
	if !HasSIFMagic(head[:n]) {
		return "", fmt.Errorf("could not open image %s: %w (and not a sandbox directory)", path, ErrNotSIF)
	}
	if n < headerLen {
		return "", fmt.Errorf("could not open image %s: %w: header truncated (%d of %d bytes)", path, ErrCorrupt, n, headerLen)
	}
	return KindSIF, nil
}

// extMagicOffset is where the ext2/3/4 superblock magic, at byte 1080 of the file.
const extMagicOffset = 1080

// IsExtImage reports whether path is a file holding an ext2/3/4 file
// system (an overlay image).
func IsExtImage(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, extMagicOffset); err != nil {
		return false
	}
	return b[0] == 0x53 && b[1] == 0xef
}

// transports are upstream's image URI schemes ("docker://busybox",
// "docker-archive:file.tar"); none is implemented by this build.
var transports = []string{"library", "docker", "docker-archive", "docker-daemon", "oci", "oci-archive", "oras", "shub", "http", "https"}

// ErrTransport: an image argument names a transport, not a local path.
var ErrTransport = errors.New("is not supported by this build")

// Transport returns the scheme of upstream's URIs that arg starts with.
func Transport(arg string) (string, bool) {
	scheme, _, ok := strings.Cut(arg, ":")
	if ok && slices.Contains(transports, scheme) {
		return scheme, true
	}
	return "", false
}

// CheckLocal refuses an image argument that is one of upstream's URIs,
// before it is taken for a relative path ("./docker:/busybox").
func CheckLocal(arg string) error {
	if scheme, ok := Transport(arg); ok {
		return fmt.Errorf("image %q: transport %q %w (use a sandbox directory or a SIF file)", arg, scheme, ErrTransport)
	}
	return nil
}
