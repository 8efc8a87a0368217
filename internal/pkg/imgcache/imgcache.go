// Package imgcache is the image cache on disk, laid out as upstream's:
// $APPTAINER_CACHEDIR/cache/TYPE. This build writes three types: "blob",
// registry layers by digest under blob/blobs/ALGORITHM/HEX; "oras", SIF
// files pulled from oras:// references, named by their digest
// (sha256:HEX); and "oci-tmp", the SIF files made of OCI images for the
// actions. Blobs and oras files are checked against their digest when
// written and when read back. list and clean know every type of
// upstream, so that a cache shared with it is shown and cleaned whole.
package imgcache

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TypeBlob holds OCI blobs (layers).
const TypeBlob = "blob"

// TypeORAS holds the SIF files pulled from oras:// references.
const TypeORAS = "oras"

// Types are upstream's cache types: the SIF files of each source, then
// the OCI blobs.
var Types = []string{"library", TypeOCITmp, "shub", TypeORAS, "ipfs", "net", TypeBlob}

// ErrType: a cache type that does not exist.
var ErrType = errors.New("unknown cache type")

// Cache is the cache root, $APPTAINER_CACHEDIR/cache.
type Cache struct{ Root string }

// TypeOCITmp holds the SIF files made of OCI images for exec, run and
// shell, named by the hex of the image's manifest digest.
const TypeOCITmp = "oci-tmp"

// OCISIF is where the SIF made of the image with manifest digest hex is
// kept. Its directory is made, private, when missing.
func (c Cache) OCISIF(hex string) (string, error) {
	dir := filepath.Join(c.Root, TypeOCITmp)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("failed to create the cache directory %s: %w", dir, err)
	}
	return filepath.Join(dir, hex), nil
}

// Blobs is the layer store of the cache.
func (c Cache) Blobs() *BlobStore { return &BlobStore{Dir: filepath.Join(c.Root, TypeBlob)} }

// ParseTypes turns -T values into cache types: "all" (or none) is every
// type, "oci" is "oci-tmp" and "blobs" is "blob", as upstream accepts.
func ParseTypes(in []string) ([]string, error) {
	if len(in) == 0 || slices.Contains(in, "all") {
		return Types, nil
	}
	var out []string
	for _, t := range in {
		switch t {
		case "oci":
			t = "oci-tmp"
		case "blobs":
			t = TypeBlob
		}
		if !slices.Contains(Types, t) {
			return nil, fmt.Errorf("%w %q (want one of %s, all)", ErrType, t, strings.Join(Types, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Entry is one cached item.
type Entry struct {
	Type, Name string
	Size       int64
	Modified   time.Time
	// path is what clean removes.
	path string
}

// entriesDir is where a type's entries are: the blobs one level down.
func (c Cache) entriesDir(typ string) string {
	if typ == TypeBlob {
		return filepath.Join(c.Root, TypeBlob, "blobs", "sha256")
	}
	return filepath.Join(c.Root, typ)
}

// Entries lists the entries of the given types, in type order then by
// name. A missing directory has none.
func (c Cache) Entries(types []string) ([]Entry, error) {
	var out []Entry
	for _, typ := range types {
		dir := c.entriesDir(typ)
		des, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("unable to open cache %s at directory %s: %w", typ, dir, err)
		}
		sort.Slice(des, func(i, j int) bool { return des[i].Name() < des[j].Name() })
		for _, de := range des {
			fi, err := de.Info()
			if err != nil {
				return nil, fmt.Errorf("unable to get info for cache entry %s: %w", de.Name(), err)
			}
			out = append(out, Entry{Type: typ, Name: de.Name(), Size: fi.Size(), Modified: fi.ModTime(), path: filepath.Join(dir, de.Name())})
		}
	}
	return out, nil
}

// Clean removes the entries of the given types last changed more than
// days ago (every entry when days is 0), telling each to removed; with
// dryRun it only tells.
func (c Cache) Clean(types []string, days int, dryRun bool, now time.Time, removed func(Entry)) error {
	entries, err := c.Entries(types)
	if err != nil {
		return err
	}
	var failed []string
	for _, e := range entries {
		if days > 0 && now.Sub(e.Modified) < time.Duration(days)*24*time.Hour {
			continue
		}
		removed(e)
		if dryRun {
			continue
		}
		if err := os.RemoveAll(e.path); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed to remove %d cache entries: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// HumanSize is upstream's size format: KiB below a MiB, then MiB, GiB,
// TiB, with two decimals.
func HumanSize(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n)/1024, 0
	for ; i < len(units)-1 && f >= 1024; i++ {
		f /= 1024
	}
	return fmt.Sprintf("%.2f %s", f, units[i])
}

// BlobStore keeps layers by digest.
type BlobStore struct{ Dir string }

func (s *BlobStore) path(d v1.Hash) string {
	return filepath.Join(s.Dir, "blobs", d.Algorithm, d.Hex)
}

// Layer returns l read from the store: a copy already there whose
// content matches its digest, or else one fetched now (checked the same
// way before it is put in place, so a broken download or a concurrent
// one never leaves a bad blob). Layers with digests other than sha256 are
// not cached.
func (s *BlobStore) Layer(l v1.Layer) (v1.Layer, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	if d.Algorithm != "sha256" {
		return l, nil
	}
	p := s.path(d)
	if ok, err := matches(p, d); err != nil {
		return nil, err
	} else if !ok {
		if err := s.fetch(l, d, p); err != nil {
			return nil, err
		}
	}
	return tarball.LayerFromFile(p)
}

// matches reports whether the file at p holds the blob d; a file that
// does not is removed.
func matches(p string, d v1.Hash) (bool, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to read cached blob: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, fmt.Errorf("failed to read cached blob %s: %w", p, err)
	}
	if hex.EncodeToString(h.Sum(nil)) == d.Hex {
		return true, nil
	}
	if err := os.Remove(p); err != nil {
		return false, fmt.Errorf("failed to remove the damaged cached blob %s: %w", p, err)
	}
	return false, nil
}

func (s *BlobStore) fetch(l v1.Layer, d v1.Hash, p string) error {
	if err := makePrivateDirs(filepath.Dir(p), filepath.Dir(s.Dir)); err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("failed to fetch layer %s: %w", d, err)
	}
	defer rc.Close()
	if err := WriteVerified(p, rc, d, -1, 0o600, nil); err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	return nil
}

// makePrivateDirs makes dir and keeps it and its parents up to (not
// including) top private: upstream's cache may hold images the user may
// read and others may not.
func makePrivateDirs(dir, top string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create the cache directory %s: %w", dir, err)
	}
	for sub := dir; sub != top && sub != filepath.Dir(sub); sub = filepath.Dir(sub) {
		if err := os.Chmod(sub, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// CheckSHA256 accepts a sha256 digest of 64 lower-case hex digits: what
// the stores name their files by.
func CheckSHA256(d v1.Hash) error {
	if d.Algorithm != "sha256" {
		return fmt.Errorf("%w: unsupported digest algorithm %q", ErrDigest, d.Algorithm)
	}
	if len(d.Hex) != 64 || strings.Trim(d.Hex, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: %q is not a sha256 digest", ErrDigest, d.Hex)
	}
	return nil
}

// ErrDigest: content read does not have the digest (or size) it was
// announced with.
var ErrDigest = errors.New("digest mismatch")

// WriteVerified writes what r yields to path, all or nothing: into a
// new file next to path (created with perm, less the umask) that is
// renamed onto path only when its sha256 is d's, its length is size
// (when size >= 0; more is not read) and check, when set, accepts it.
// On any failure nothing is left: neither the new file nor a changed
// path. A directory at path is replaced; a symbolic link at path is
// replaced, not followed.
func WriteVerified(path string, r io.Reader, d v1.Hash, size int64, perm os.FileMode, check func(string) error) error {
	if err := CheckSHA256(d); err != nil {
		return err
	}
	tmp, err := createNext(path, perm)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if size >= 0 {
		// One byte more than announced is enough to know it lied.
		r = io.LimitReader(r, size+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return fmt.Errorf("failed to download: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if size >= 0 && n != size {
		return fmt.Errorf("%w: got %d bytes or more, want %d", ErrDigest, n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Hex {
		return fmt.Errorf("%w: the content has digest sha256:%s, want %s", ErrDigest, got, d)
	}
	if check != nil {
		if err := check(tmp.Name()); err != nil {
			return err
		}
	}
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("failed to remove the old %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	committed = true
	return nil
}

// createNext creates a new file with a random name beginning with a dot
// in path's directory, with perm (os.CreateTemp has no mode but 0600).
func createNext(path string, perm os.FileMode) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	for range 100 {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(dir, "."+base+".partial-"+hex.EncodeToString(b[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to create a file next to %s: %w", path, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("failed to create a file next to %s: too many tries", path)
}

// ORAS is the store of SIF files pulled from oras:// references.
func (c Cache) ORAS() *FileStore { return &FileStore{Dir: filepath.Join(c.Root, TypeORAS)} }

// FileStore keeps whole files by digest, named as upstream names them:
// ALGORITHM:HEX.
type FileStore struct{ Dir string }

// Get returns the path of the file with digest d and length size: a copy
// already there that still has them, or else one fetched now through
// open and written with WriteVerified (check, when set, must accept it).
// cached tells which.
func (s *FileStore) Get(d v1.Hash, size int64, open func() (io.ReadCloser, error), check func(string) error) (path string, cached bool, err error) {
	// The digest names a file: it must be one, never a path.
	if err := CheckSHA256(d); err != nil {
		return "", false, err
	}
	p := filepath.Join(s.Dir, d.String())
	if ok, err := matches(p, d); err != nil {
		return "", false, err
	} else if ok {
		return p, true, nil
	}
	if err := makePrivateDirs(s.Dir, filepath.Dir(s.Dir)); err != nil {
		return "", false, err
	}
	rc, err := open()
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	if err := WriteVerified(p, rc, d, size, 0o700, check); err != nil {
		return "", false, err
	}
	return p, false, nil
}
