// Package imgcache is the image cache on disk, laid out as upstream's:
// $APPTAINER_CACHEDIR/cache/TYPE. This build writes one type, "blob":
// registry layers by digest under blob/blobs/ALGORITHM/HEX, each checked
// against its digest when written and when read back. list and clean
// know every type of upstream, so that a cache shared with it is shown
// and cleaned whole.
package imgcache

import (
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

// Types are upstream's cache types: the SIF files of each source, then
// the OCI blobs.
var Types = []string{"library", TypeOCITmp, "shub", "oras", "ipfs", "net", TypeBlob}

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
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create the cache directory %s: %w", dir, err)
	}
	// Upstream keeps its cache private: it may hold images the user may
	// read and others may not.
	for sub := dir; sub != filepath.Dir(s.Dir); sub = filepath.Dir(sub) {
		if err := os.Chmod(sub, 0o700); err != nil {
			return err
		}
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("failed to fetch layer %s: %w", d, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(dir, ".partial-")
	if err != nil {
		return fmt.Errorf("failed to write to the cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("failed to fetch layer %s: %w", d, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Hex {
		return fmt.Errorf("layer %s: the content fetched has digest sha256:%s", d, got)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("failed to write to the cache: %w", err)
	}
	return nil
}
