package imgcache

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// countingLayer counts the fetches of its blob; broken makes them fail,
// lying makes them return other bytes than its digest promises.
type countingLayer struct {
	v1.Layer
	fetches       int
	broken, lying bool
}

func (l *countingLayer) Compressed() (io.ReadCloser, error) {
	l.fetches++
	if l.broken {
		return nil, errors.New("registry unreachable")
	}
	if l.lying {
		return io.NopCloser(strings.NewReader("not the layer")), nil
	}
	return l.Layer.Compressed()
}

func uncompressed(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBlobStore(t *testing.T) {
	inner, err := random.Layer(4096, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		t.Fatal(err)
	}
	want := uncompressed(t, inner)
	store := &BlobStore{Dir: filepath.Join(t.TempDir(), "blob")}
	l := &countingLayer{Layer: inner}
	got, err := store.Layer(l)
	if err != nil {
		t.Fatal(err)
	}
	if string(uncompressed(t, got)) != string(want) || l.fetches != 1 {
		t.Fatalf("first read: %d fetches, content equal %v", l.fetches, string(uncompressed(t, got)) == string(want))
	}
	d, _ := inner.Digest()
	blob := filepath.Join(store.Dir, "blobs", "sha256", d.Hex)
	fi, err := os.Stat(blob)
	if err != nil {
		t.Fatal(err)
	}
	if di, _ := os.Stat(store.Dir); di.Mode().Perm() != 0o700 || fi.Size() == 0 {
		t.Errorf("store mode %v, blob size %d", di.Mode(), fi.Size())
	}

	// A hit: the registry is not asked.
	l.broken = true
	if got, err = store.Layer(l); err != nil || l.fetches != 1 || string(uncompressed(t, got)) != string(want) {
		t.Fatalf("cache hit: %v, %d fetches", err, l.fetches)
	}

	// A damaged blob is not used: it is fetched again.
	if err := os.WriteFile(blob, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.broken = false
	if got, err = store.Layer(l); err != nil || l.fetches != 2 || string(uncompressed(t, got)) != string(want) {
		t.Fatalf("damaged blob: %v, %d fetches", err, l.fetches)
	}

	// A fetch whose content does not match the digest leaves nothing.
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	l.lying = true
	if _, err := store.Layer(l); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("a lying registry: %v", err)
	}
	left, _ := os.ReadDir(filepath.Dir(blob))
	if len(left) != 0 {
		t.Errorf("left in the store: %v", left)
	}
}

func TestParseTypes(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string
		bad  bool
	}{
		{nil, Types, false},
		{[]string{"all"}, Types, false},
		{[]string{"blob", "all"}, Types, false},
		{[]string{"oci", "blobs", "blob"}, []string{"oci-tmp", "blob"}, false},
		{[]string{"library"}, []string{"library"}, false},
		{[]string{"docker"}, nil, true},
	} {
		got, err := ParseTypes(c.in)
		if c.bad != errors.Is(err, ErrType) || !c.bad && !slices.Equal(got, c.want) {
			t.Errorf("ParseTypes(%v) = %v, %v", c.in, got, err)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0.00 KiB", 512: "0.50 KiB", 1536 * 1024: "1.50 MiB", 3 << 30: "3.00 GiB", 5 << 40: "5.00 TiB", 5 << 50: "5120.00 TiB"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestListAndClean(t *testing.T) {
	c := Cache{Root: t.TempDir()}
	now := time.Now()
	files := map[string]time.Time{
		"blob/blobs/sha256/aaa": now.Add(-10 * 24 * time.Hour),
		"blob/blobs/sha256/bbb": now,
		"oci-tmp/ccc":           now.Add(-3 * 24 * time.Hour),
	}
	for p, mt := range files {
		full := filepath.Join(c.Root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("12345"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	es, err := c.Entries(Types)
	if err != nil || len(es) != 3 || es[0].Type != "oci-tmp" || es[1].Name != "aaa" || es[1].Size != 5 {
		t.Fatalf("Entries = %+v, %v", es, err)
	}
	es, _ = c.Entries([]string{TypeBlob})
	if len(es) != 2 {
		t.Errorf("blob entries %+v", es)
	}
	var told []string
	tell := func(e Entry) { told = append(told, e.Type+"/"+e.Name) }
	if err := c.Clean(Types, 2, true, now, tell); err != nil {
		t.Fatal(err)
	}
	if es, _ := c.Entries(Types); len(es) != 3 || !slices.Equal(told, []string{"oci-tmp/ccc", "blob/aaa"}) {
		t.Errorf("dry run removed something or told %v", told)
	}
	told = nil
	if err := c.Clean([]string{TypeBlob}, 5, false, now, tell); err != nil {
		t.Fatal(err)
	}
	if es, _ := c.Entries(Types); len(es) != 2 || !slices.Equal(told, []string{"blob/aaa"}) {
		t.Errorf("clean --days 5 -T blob: left %+v, told %v", es, told)
	}
	if err := c.Clean(Types, 0, false, now, func(Entry) {}); err != nil {
		t.Fatal(err)
	}
	if es, _ := c.Entries(Types); len(es) != 0 {
		t.Errorf("clean left %+v", es)
	}
}
