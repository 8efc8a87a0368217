package oras

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"

	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/imgcache"
)

// testSIF writes a small runnable SIF (mksquashfs packs its root).
func testSIF(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs not installed")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "hello"), []byte("hello from the SIF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sq := filepath.Join(dir, "root.squashfs")
	if out, err := exec.Command("mksquashfs", root, sq, "-noappend", "-quiet", "-no-progress").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v: %s", err, out)
	}
	sif := filepath.Join(dir, "test.sif")
	if err := image.WriteSIF(sif, image.SIFInput{Squashfs: sq, Labels: []byte(`{"a":"b"}`)}); err != nil {
		t.Fatal(err)
	}
	return sif
}

func fileSum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// startRegistry serves go-containerregistry's in-process registry on
// loopback; wrap, when set, sees every request first.
func startRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func mustRef(t *testing.T, arg string) name.Reference {
	t.Helper()
	ref, err := ParseRef(arg, false)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// dirEntries lists a directory's names, none for a missing one.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func TestParseRef(t *testing.T) {
	cases := []struct {
		arg, want string
		bad       bool
	}{
		{"oras://127.0.0.1:5000/e2e/busybox:1.0", "127.0.0.1:5000/e2e/busybox:1.0", false},
		{"oras://127.0.0.1:5000/e2e/busybox", "127.0.0.1:5000/e2e/busybox:latest", false},
		{"oras:///localhost:5000/x:y", "localhost:5000/x:y", false},
		{"oras://reg.example/a@sha256:" + strings.Repeat("a", 64), "reg.example/a@sha256:" + strings.Repeat("a", 64), false},
		{"oras://busybox", "index.docker.io/library/busybox:latest", false},
		{"oras://", "", true},
		{"docker://busybox", "", true},
		{"oras://Upper/Case", "", true},
		{"oras://host/x:\x1b[31m", "", true},
	}
	for _, c := range cases {
		ref, err := ParseRef(c.arg, false)
		if c.bad {
			if !errors.Is(err, ErrRef) {
				t.Errorf("ParseRef(%q) = %v, %v; want ErrRef", c.arg, ref, err)
			}
			continue
		}
		if err != nil || ref.Name() != c.want {
			t.Errorf("ParseRef(%q) = %v, %v; want %s", c.arg, ref, err, c.want)
		}
	}
	if !IsRef("oras://x") || IsRef("docker://x") || IsRef("oras:x") {
		t.Error("IsRef")
	}
}

func TestSIFLayer(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	good := v1.Descriptor{MediaType: LayerMediaType, Digest: d, Size: 100}
	with := func(f func(*v1.Descriptor)) v1.Descriptor { c := good; f(&c); return c }
	cases := []struct {
		name   string
		layers []v1.Descriptor
		msg    string
	}{
		{"sif", []v1.Descriptor{good}, ""},
		{"prototype media type", []v1.Descriptor{with(func(l *v1.Descriptor) { l.MediaType = LayerMediaTypeProto })}, ""},
		{"no layer", nil, "should have a single layer, found 0"},
		{"two layers", []v1.Descriptor{good, good}, "found 2"},
		{"a docker layer", []v1.Descriptor{with(func(l *v1.Descriptor) { l.MediaType = types.DockerLayer })}, "invalid layer mediatype"},
		{"escape in media type", []v1.Descriptor{with(func(l *v1.Descriptor) { l.MediaType = "\x1b]0;pwned\a" })}, `"\x1b]0;pwned\a"`},
		{"sha512", []v1.Descriptor{with(func(l *v1.Descriptor) { l.Digest.Algorithm = "sha512" })}, "not a sha256"},
		{"short hex", []v1.Descriptor{with(func(l *v1.Descriptor) { l.Digest.Hex = "ab" })}, "not a sha256"},
		{"path in hex", []v1.Descriptor{with(func(l *v1.Descriptor) { l.Digest.Hex = "../../../../../../../etc/" + strings.Repeat("a", 40) })}, "not a sha256"},
		{"no size", []v1.Descriptor{with(func(l *v1.Descriptor) { l.Size = 0 })}, "size 0"},
		{"negative size", []v1.Descriptor{with(func(l *v1.Descriptor) { l.Size = -1 })}, "size -1"},
	}
	for _, c := range cases {
		l, err := SIFLayer(&v1.Manifest{Layers: c.layers})
		if c.msg == "" {
			if err != nil || l.Digest != d {
				t.Errorf("%s: %v %v", c.name, l, err)
			}
			continue
		}
		if !errors.Is(err, ErrNotSIF) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want ErrNotSIF with %q", c.name, err, c.msg)
		}
		if err != nil && strings.ContainsRune(err.Error(), 0x1b) {
			t.Errorf("%s: the registry's escape reached the message: %q", c.name, err)
		}
	}
}

// TestManifestLayout pins upstream's layout, which its pulls check.
func TestManifestLayout(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("c", 64)}
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	m := Manifest(d, 1234, "my.sif", created, map[string]string{"k": "v"})
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	cfg := got["config"].(map[string]any)
	layer := got["layers"].([]any)[0].(map[string]any)
	ann := got["annotations"].(map[string]any)
	checks := map[string][2]any{
		"manifest media type": {got["mediaType"], "application/vnd.oci.image.manifest.v1+json"},
		"config media type":   {cfg["mediaType"], "application/vnd.sylabs.sif.config.v1+json"},
		"config digest":       {cfg["digest"], "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
		"config size":         {cfg["size"], float64(2)},
		"config data":         {cfg["data"], "e30="},
		"layer media type":    {layer["mediaType"], "application/vnd.sylabs.sif.layer.v1.sif"},
		"layer digest":        {layer["digest"], d.String()},
		"layer size":          {layer["size"], float64(1234)},
		"layer title":         {layer["annotations"].(map[string]any)["org.opencontainers.image.title"], "my.sif"},
		"created":             {ann["org.opencontainers.image.created"], "2024-05-06T06:08:09Z"},
		"user annotation":     {ann["k"], "v"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: %v, want %v", what, c[0], c[1])
		}
	}
	if m := Manifest(d, 1, "x", time.Time{}, nil); m.Annotations != nil {
		t.Errorf("no time and no annotations: %v", m.Annotations)
	}
	if m := Manifest(d, 1, "x", created, map[string]string{AnnotationCreated: "mine"}); m.Annotations[AnnotationCreated] != "mine" {
		t.Errorf("a given created annotation was replaced: %v", m.Annotations)
	}
}

// TestPushPullRoundTrip: the file pulled back is the file pushed, by
// sha256, straight and through the cache; the manifest is upstream's.
func TestPushPullRoundTrip(t *testing.T) {
	sif := testSIF(t)
	addr := startRegistry(t, nil)
	ref := mustRef(t, "oras://"+addr+"/e2e/test:v1")
	ctx := context.Background()
	md, err := Push(ctx, sif, ref, map[string]string{AnnotationDescription: "a test"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Resolve(ctx, ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Manifest != md || a.SIF.Digest.Hex != fileSum(t, sif) || a.SIF.Annotations[AnnotationTitle] != "test.sif" {
		t.Errorf("resolved %+v; pushed manifest %s, file sha256:%s", a, md, fileSum(t, sif))
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	if m.Config.MediaType != ConfigMediaType || m.Annotations[AnnotationDescription] != "a test" || m.Annotations[AnnotationCreated] == "" {
		t.Errorf("manifest in the registry: %+v", m)
	}
	if raw, _ := img.RawConfigFile(); string(raw) != "{}" {
		t.Errorf("config blob %q, want {}", raw)
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "out.sif")
	if cached, err := a.PullTo(Options{}, out); err != nil || cached {
		t.Fatalf("pull without cache: %v cached=%v", err, cached)
	}
	if fileSum(t, out) != fileSum(t, sif) {
		t.Error("the file pulled differs from the file pushed")
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("the pulled SIF is not executable: %v", fi.Mode())
	}

	cache := imgcache.Cache{Root: filepath.Join(dir, "cache")}
	o := Options{Cache: cache.ORAS()}
	out2 := filepath.Join(dir, "out2.sif")
	if cached, err := a.PullTo(o, out2); err != nil || cached {
		t.Fatalf("first pull with cache: %v cached=%v", err, cached)
	}
	entry := filepath.Join(dir, "cache", "oras", "sha256:"+fileSum(t, sif))
	if fileSum(t, entry) != fileSum(t, sif) || fileSum(t, out2) != fileSum(t, sif) {
		t.Error("cache entry or output differs from the file pushed")
	}
	if cached, err := a.PullTo(o, out2); err != nil || !cached {
		t.Fatalf("second pull: %v cached=%v, want from the cache", err, cached)
	}
	// A damaged cache entry is not used: fetched again.
	if err := os.WriteFile(entry, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cached, err := a.PullTo(o, out2); err != nil || cached || fileSum(t, entry) != fileSum(t, sif) {
		t.Fatalf("pull over a damaged entry: %v cached=%v", err, cached)
	}
	for _, d := range []string{dir, filepath.Join(dir, "cache", "oras")} {
		for _, n := range dirEntries(t, d) {
			if strings.Contains(n, "partial") {
				t.Errorf("left behind: %s/%s", d, n)
			}
		}
	}
}

// TestPushRefusesNonSIF: nothing reaches the registry.
func TestPushRefusesNonSIF(t *testing.T) {
	var requests int
	addr := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests++; h.ServeHTTP(w, r) })
	})
	notSIF := filepath.Join(t.TempDir(), "x.sif")
	if err := os.WriteFile(notSIF, []byte("#!/bin/sh\necho not a SIF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Push(context.Background(), notSIF, mustRef(t, "oras://"+addr+"/x/y:z"), nil, Options{})
	if !errors.Is(err, ErrNotSIF) || !strings.Contains(err.Error(), notSIF) {
		t.Errorf("push of a non-SIF: %v", err)
	}
	_, err = Push(context.Background(), filepath.Join(t.TempDir(), "missing.sif"), mustRef(t, "oras://"+addr+"/x/y:z"), nil, Options{})
	if err == nil {
		t.Error("push of a missing file succeeded")
	}
	if requests != 0 {
		t.Errorf("%d requests reached the registry", requests)
	}
}

// pushRaw puts an image with one layer of the given bytes and media type.
func pushRaw(t *testing.T, ref name.Reference, body []byte, mt types.MediaType) {
	t.Helper()
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(body, mt), MediaType: mt})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

// TestPullRefuses: hostile or wrong artifacts leave nothing: no output,
// no temporary file, no cache entry.
func TestPullRefuses(t *testing.T) {
	sif := testSIF(t)
	sifBytes, err := os.ReadFile(sif)
	if err != nil {
		t.Fatal(err)
	}
	// tamper, when set, replaces the blob the registry serves.
	var tamper func([]byte) []byte
	addr := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tamper == nil || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := tamper(rec.Body.Bytes())
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		})
	})
	ctx := context.Background()
	good := mustRef(t, "oras://"+addr+"/t/good:1")
	if _, err := Push(ctx, sif, good, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	docker := mustRef(t, "oras://"+addr+"/t/docker:1")
	pushRaw(t, docker, sifBytes, types.OCILayer)
	fake := mustRef(t, "oras://"+addr+"/t/fake:1")
	pushRaw(t, fake, []byte("#!/bin/sh\nnot a SIF at all, though labelled one\n"), LayerMediaType)

	cases := []struct {
		name   string
		ref    name.Reference
		tamper func([]byte) []byte
		msg    string
	}{
		{"docker layer", docker, nil, "invalid layer mediatype"},
		{"not a SIF under the SIF media type", fake, nil, "not a SIF"},
		{"flipped byte", good, func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/2] ^= 1; return c }, "sha256"},
		{"truncated", good, func(b []byte) []byte { return b[:len(b)/2] }, ""},
	}
	for _, c := range cases {
		for _, withCache := range []bool{false, true} {
			dir := t.TempDir()
			o := Options{}
			if withCache {
				o.Cache = imgcache.Cache{Root: filepath.Join(dir, "cache")}.ORAS()
			}
			out := filepath.Join(dir, "out", "x.sif")
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				t.Fatal(err)
			}
			tamper = c.tamper
			a, err := Resolve(ctx, c.ref, o)
			if err == nil {
				_, err = a.PullTo(o, out)
			}
			tamper = nil
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s (cache %v): error %v, want one with %q", c.name, withCache, err, c.msg)
			}
			if left := append(dirEntries(t, filepath.Join(dir, "out")), dirEntries(t, filepath.Join(dir, "cache", "oras"))...); len(left) != 0 {
				t.Errorf("%s (cache %v): left behind %v", c.name, withCache, left)
			}
		}
	}
	// Control: untampered, the same pull works; bytes served past the
	// size the manifest gives are not read.
	for _, tamper = range []func([]byte) []byte{nil, func(b []byte) []byte { return append(bytes.Clone(b), "more"...) }} {
		a, err := Resolve(ctx, good, Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "x.sif")
		if _, err := a.PullTo(Options{}, out); err != nil || fileSum(t, out) != fileSum(t, sif) {
			t.Errorf("control pull: %v", err)
		}
	}
}

// TestPullKeepsOldOutputOnFailure: a failed pull over an existing file
// (--force) leaves the old file as it was.
func TestPullKeepsOldOutputOnFailure(t *testing.T) {
	addr := startRegistry(t, nil)
	fake := mustRef(t, "oras://"+addr+"/t/fake:1")
	pushRaw(t, fake, []byte("not a SIF"), LayerMediaType)
	out := filepath.Join(t.TempDir(), "x.sif")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Resolve(context.Background(), fake, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PullTo(Options{}, out); err == nil {
		t.Fatal("pull of a non-SIF succeeded")
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Errorf("the old output became %q", b)
	}
	if left := dirEntries(t, filepath.Dir(out)); len(left) != 1 {
		t.Errorf("left behind: %v", left)
	}
}

// TestAuth: a registry that wants basic credentials; the keychain or
// explicit credentials reach it for push and pull.
func TestAuth(t *testing.T) {
	sif := testSIF(t)
	addr := startRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ref := mustRef(t, "oras://"+addr+"/p/x:1")
	ctx := context.Background()
	anon := Options{Keychain: authn.NewMultiKeychain()}
	if _, err := Push(ctx, sif, ref, nil, anon); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") && !strings.Contains(err.Error(), "401") {
		t.Errorf("anonymous push: %v", err)
	}
	explicit := Options{Auth: &authn.AuthConfig{Username: "alice", Password: "secret"}}
	if _, err := Push(ctx, sif, ref, nil, explicit); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	if _, err := Resolve(ctx, ref, anon); err == nil {
		t.Error("anonymous pull succeeded")
	}
	kc := Options{Keychain: staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "alice", Password: "secret"})}}
	a, err := Resolve(ctx, ref, kc)
	if err != nil {
		t.Fatalf("pull with keychain: %v", err)
	}
	out := filepath.Join(t.TempDir(), "x.sif")
	if _, err := a.PullTo(kc, out); err != nil || fileSum(t, out) != fileSum(t, sif) {
		t.Errorf("pull with keychain: %v", err)
	}
}

// TestTransport: every request goes through the transport given.
func TestTransport(t *testing.T) {
	sif := testSIF(t)
	addr := startRegistry(t, nil)
	ref := mustRef(t, "oras://"+addr+"/t/x:1")
	var seen int
	o := Options{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen++
		return http.DefaultTransport.RoundTrip(r)
	})}
	if _, err := Push(context.Background(), sif, ref, nil, o); err != nil {
		t.Fatal(err)
	}
	pushed := seen
	a, err := Resolve(context.Background(), ref, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PullTo(o, filepath.Join(t.TempDir(), "x.sif")); err != nil {
		t.Fatal(err)
	}
	if pushed == 0 || seen <= pushed {
		t.Errorf("the transport saw %d requests for the push and %d for the pull", pushed, seen-pushed)
	}
	refuse := Options{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("refused by policy")
	})}
	if _, err := Resolve(context.Background(), ref, refuse); err == nil || !strings.Contains(err.Error(), "refused by policy") {
		t.Errorf("a refusing transport: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

// TestPullUpstreamPrototype: an artifact pushed with the old prototype
// media type, as Singularity before 3.7 did, is pulled.
func TestPullUpstreamPrototype(t *testing.T) {
	sif := testSIF(t)
	b, err := os.ReadFile(sif)
	if err != nil {
		t.Fatal(err)
	}
	addr := startRegistry(t, nil)
	ref := mustRef(t, "oras://"+addr+"/old/proto:1")
	pushRaw(t, ref, b, LayerMediaTypeProto)
	a, err := Resolve(context.Background(), ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.sif")
	if _, err := a.PullTo(Options{}, out); err != nil || fileSum(t, out) != fileSum(t, sif) {
		t.Errorf("pull of the prototype media type: %v", err)
	}
}
