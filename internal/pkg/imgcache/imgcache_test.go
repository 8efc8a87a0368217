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

func TestWriteVerified(t *testing.T) {
	body := "the blob"
	sum, _, err := v1.SHA256(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("refused by check")
	cases := []struct {
		name  string
		body  string
		d     v1.Hash
		size  int64
		check func(string) error
		err   error
	}{
		{"good", body, sum, int64(len(body)), nil, nil},
		{"size unknown", body, sum, -1, nil, nil},
		{"other content", "other content", sum, -1, nil, ErrDigest},
		{"short", body[:3], sum, int64(len(body)), nil, ErrDigest},
		{"longer than announced", body + "x", sum, int64(len(body)), nil, ErrDigest},
		{"sha512", body, v1.Hash{Algorithm: "sha512", Hex: sum.Hex}, -1, nil, ErrDigest},
		{"check refuses", body, sum, -1, func(string) error { return refuse }, refuse},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			must := func(err error) {
				if err != nil {
					t.Fatal(err)
				}
			}
			must(os.WriteFile(out, []byte("old"), 0o644))
			err := WriteVerified(out, strings.NewReader(c.body), c.d, c.size, 0o755, c.check)
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			got, _ := os.ReadFile(out)
			names, _ := os.ReadDir(dir)
			if c.err != nil && (string(got) != "old" || len(names) != 1) {
				t.Errorf("a refused write changed the output (%q) or left %d files", got, len(names))
			}
			if c.err == nil && string(got) != body {
				t.Errorf("output %q", got)
			}
		})
	}

	// A link planted at the output is replaced, not followed; a directory
	// is replaced.
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("host file"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteVerified(link, strings.NewReader(body), sum, -1, 0o644, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "host file" {
		t.Errorf("the write followed the link: victim now %q", b)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink != 0 {
		t.Error("the link is still there")
	}
	sub := filepath.Join(dir, "sandbox")
	if err := os.MkdirAll(filepath.Join(sub, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteVerified(sub, strings.NewReader(body), sum, -1, 0o644, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(sub); string(b) != body {
		t.Errorf("the directory was not replaced: %q", b)
	}
}

func TestFileStore(t *testing.T) {
	body := "a SIF, say"
	d, _, err := v1.SHA256(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	s := Cache{Root: filepath.Join(t.TempDir(), "cache")}.ORAS()
	opens := 0
	open := func() (io.ReadCloser, error) { opens++; return io.NopCloser(strings.NewReader(body)), nil }
	p, cached, err := s.Get(d, int64(len(body)), open, nil)
	if err != nil || cached || opens != 1 || filepath.Base(p) != "sha256:"+d.Hex || filepath.Base(filepath.Dir(p)) != TypeORAS {
		t.Fatalf("first Get: %s %v %v, %d opens", p, cached, err, opens)
	}
	if fi, _ := os.Stat(s.Dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("store mode %v", fi.Mode())
	}
	if p2, cached, err := s.Get(d, int64(len(body)), open, nil); err != nil || !cached || p2 != p || opens != 1 {
		t.Fatalf("second Get: %v %v, %d opens", cached, err, opens)
	}
	// A digest that is a path is refused before anything is opened.
	escape := v1.Hash{Algorithm: "sha256", Hex: "../../" + strings.Repeat("a", 58)}
	if _, _, err := s.Get(escape, 1, open, nil); !errors.Is(err, ErrDigest) || opens != 1 {
		t.Errorf("Get of a path digest: %v, %d opens", err, opens)
	}
	entries, err := Cache{Root: filepath.Dir(s.Dir)}.Entries([]string{TypeORAS})
	if err != nil || len(entries) != 1 || entries[0].Type != TypeORAS {
		t.Errorf("entries: %+v %v", entries, err)
	}
	if err := os.WriteFile(p, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, cached, err := s.Get(d, int64(len(body)), open, nil); err != nil || cached || opens != 2 {
		t.Fatalf("Get over a damaged entry: %v %v, %d opens", cached, err, opens)
	}
}
