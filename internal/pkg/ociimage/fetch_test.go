package ociimage

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/imgcache"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestParseSource(t *testing.T) {
	exists := func(p string) bool { return p == "dir:with:colons" || p == "plain.tar" }
	for _, c := range []struct {
		in   string
		want Source
		bad  bool
	}{
		{in: "docker://busybox", want: Source{Transport: "docker", Ref: "busybox"}},
		{in: "docker://127.0.0.1:5000/x/busybox:1.36", want: Source{Transport: "docker", Ref: "127.0.0.1:5000/x/busybox:1.36"}},
		{in: "docker-archive:plain.tar", want: Source{Transport: "docker-archive", Path: "plain.tar"}},
		{in: "docker-archive:plain.tar:busybox:latest", want: Source{Transport: "docker-archive", Path: "plain.tar", Ref: "busybox:latest"}},
		{in: "docker-archive:missing.tar:x:y", want: Source{Transport: "docker-archive", Path: "missing.tar", Ref: "x:y"}},
		{in: "oci-archive://plain.tar", want: Source{Transport: "oci-archive", Path: "plain.tar"}},
		{in: "oci:dir:with:colons", want: Source{Transport: "oci", Path: "dir:with:colons"}},
		{in: "oci:dir:with:colons:v1", want: Source{Transport: "oci", Path: "dir:with:colons", Ref: "v1"}},
		{in: "oci:/abs/layout", want: Source{Transport: "oci", Path: "/abs/layout"}},
		{in: "docker:busybox", bad: true},
		{in: "docker://", bad: true},
		{in: "oci:", bad: true},
		{in: "library://x", bad: true},
		{in: "plain.sif", bad: true},
		{in: "docker://busybox\n%post\nid", bad: true},
		{in: "oci:dir\x1b[2J", bad: true},
	} {
		got, err := ParseSource(c.in, exists)
		if c.bad {
			if !errors.Is(err, ErrSource) {
				t.Errorf("ParseSource(%q) = %+v, %v; want ErrSource", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// testImage is a one-layer image with a config to carry through.
func testImage(t *testing.T, body string) v1.Image {
	t.Helper()
	img := imageOf(t, layerOf(t, dir("bin/"), file("bin/hello", body)))
	img, err := mutate.Config(img, v1.Config{Env: []string{"PATH=/bin", "GREETING=hi"}, Entrypoint: []string{"/bin/hello"},
		Cmd: []string{"world"}, WorkingDir: "/bin", Labels: map[string]string{"maintainer": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func checkExtract(t *testing.T, s Source, o Options, body string) {
	t.Helper()
	rootfs := t.TempDir()
	cfg, err := Extract(context.Background(), s, o, rootfs, nil)
	if err != nil {
		t.Fatalf("Extract(%s): %v", s, err)
	}
	if got := readOr(t, filepath.Join(rootfs, "bin/hello")); got != body {
		t.Errorf("%s: bin/hello = %q, want %q", s, got, body)
	}
	if strings.Join(cfg.Entrypoint, " ") != "/bin/hello" || strings.Join(cfg.Cmd, " ") != "world" ||
		cfg.WorkingDir != "/bin" || cfg.Labels["maintainer"] != "test" || len(cfg.Env) != 2 {
		t.Errorf("%s: config not carried: %+v", s, cfg)
	}
}

func TestExtractLocalTransports(t *testing.T) {
	dir := t.TempDir()
	one, two := testImage(t, "one"), testImage(t, "two")

	archive := filepath.Join(dir, "docker.tar")
	tagOne, _ := name.NewTag("example.org/one:v1")
	tagTwo, _ := name.NewTag("example.org/two:v2")
	if err := tarball.MultiWriteToFile(archive, map[name.Tag]v1.Image{tagOne: one, tagTwo: two}); err != nil {
		t.Fatal(err)
	}
	checkExtract(t, Source{Transport: TransportDockerArchive, Path: archive, Ref: "example.org/two:v2"}, Options{}, "two")

	oci := filepath.Join(dir, "layout")
	p, err := layout.Write(oci, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(one, layout.WithAnnotations(map[string]string{refNameAnnotation: "v1"})); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(two, layout.WithAnnotations(map[string]string{refNameAnnotation: "v2"})); err != nil {
		t.Fatal(err)
	}
	checkExtract(t, Source{Transport: TransportOCI, Path: oci, Ref: "v1"}, Options{}, "one")
	if _, err := Extract(context.Background(), Source{Transport: TransportOCI, Path: oci}, Options{}, t.TempDir(), nil); err == nil ||
		!strings.Contains(err.Error(), "name one") {
		t.Errorf("two images and no name: %v, want a request to name one", err)
	}

	ociArchive := filepath.Join(dir, "oci.tar")
	tarDir(t, oci, ociArchive)
	tmp := t.TempDir()
	checkExtract(t, Source{Transport: TransportOCIArchive, Path: ociArchive, Ref: "v2"}, Options{TmpDir: tmp}, "two")
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the unpacked oci-archive was left behind: %v", left)
	}
}

func TestExtractBadSources(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.tar")
	if err := os.WriteFile(junk, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, s := range []Source{
		{Transport: TransportDockerArchive, Path: filepath.Join(dir, "missing.tar")},
		{Transport: TransportDockerArchive, Path: junk},
		{Transport: TransportOCI, Path: dir},
		{Transport: TransportOCIArchive, Path: junk},
		{Transport: TransportDocker, Ref: "UPPER/case"},
	} {
		if _, err := Extract(context.Background(), s, Options{TmpDir: tmp}, t.TempDir(), nil); err == nil {
			t.Errorf("%s: accepted", s)
		} else {
			t.Logf("%s: %v", s, err)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// A hostile oci-archive cannot write outside its temporary directory.
func TestOCIArchiveTraversal(t *testing.T) {
	host, check := outside(t)
	archive := filepath.Join(t.TempDir(), "evil.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	_ = tw.WriteHeader(&tar.Header{Name: "../../../../../" + host + "/pwned", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	_ = f.Close()
	_, err = Extract(context.Background(), Source{Transport: TransportOCIArchive, Path: archive}, Options{TmpDir: t.TempDir()}, t.TempDir(), nil)
	if !errors.Is(err, ErrEscape) {
		t.Errorf("got %v, want ErrEscape", err)
	}
	check()
}

func TestExtractFromRegistryWithCache(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ref := u.Host + "/test/hello:latest"
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img := testImage(t, "remote")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "blob")
	store := &imgcache.BlobStore{Dir: cache}
	checkExtract(t, Source{Transport: TransportDocker, Ref: ref}, Options{LayerCache: store}, "remote")
	var cached int
	_ = filepath.WalkDir(cache, func(_ string, d fs.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			cached++
		}
		return nil
	})
	if cached == 0 {
		t.Fatal("nothing was cached")
	}
	// With the layer gone from the registry, it comes from the cache
	// (the manifest and config are still asked for); without the cache
	// the pull fails, which shows the registry no longer has it.
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v2/test/hello/blobs/"+d.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("deleting the layer from the registry: %v %v", resp, err)
	}
	resp.Body.Close()
	checkExtract(t, Source{Transport: TransportDocker, Ref: ref}, Options{LayerCache: store}, "remote")
	if _, err := Extract(context.Background(), Source{Transport: TransportDocker, Ref: ref}, Options{}, t.TempDir(), nil); err == nil {
		t.Error("control: the layer was still in the registry")
	}
	if _, err := Extract(context.Background(), Source{Transport: TransportDocker, Ref: u.Host + "/test/missing:latest"}, Options{}, t.TempDir(), nil); err == nil {
		t.Error("a missing image was found")
	}
}

// tarDir writes dir's files into a tar at out, names relative to dir.
func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name, _ = filepath.Rel(dir, p)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		r, err := os.Open(p)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(tw, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// A multi-platform index gives the image of the platform asked for, from
// a registry and from an OCI layout.
func TestPlatformChoice(t *testing.T) {
	amd, arm := testImage(t, "amd64"), testImage(t, "arm64")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ref := u.Host + "/multi/img:1"
	tag, _ := name.NewTag(ref)
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	for _, s := range []Source{{Transport: TransportDocker, Ref: ref}, {Transport: TransportOCI, Path: dir}} {
		checkExtract(t, s, Options{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}, "arm64")
		checkExtract(t, s, Options{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}, "amd64")
		if _, err := Extract(context.Background(), s, Options{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}, t.TempDir(), nil); err == nil {
			t.Errorf("%s: an image for s390x was found", s)
		} else {
			t.Logf("%s: %v", s, err)
		}
	}
}
