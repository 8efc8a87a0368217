package build

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/apptainer/apptainer/internal/pkg/imgcache"
	"github.com/apptainer/apptainer/internal/pkg/oras"
)

// TestBuildFromORAS: a SIF pushed to a registry is built from, by
// oras:// source and by "Bootstrap: oras", with and without the cache.
func TestBuildFromORAS(t *testing.T) {
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs not installed")
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "etc", "motd"), []byte("from the pushed SIF"), 0o644); err != nil {
		t.Fatal(err)
	}
	sif := filepath.Join(dir, "base.sif")
	if err := Build(context.Background(), Options{Out: sif, Source: tree}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	src := "oras://" + strings.TrimPrefix(srv.URL, "http://") + "/b/base:1"
	ref, err := oras.ParseRef(src, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Push(context.Background(), sif, ref, nil, oras.Options{}); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(dir, "x.def")
	if err := os.WriteFile(def, []byte("Bootstrap: oras\nFrom: "+strings.TrimPrefix(src, "oras://")+"\n%labels\nfrom.def yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cached := oras.Options{Cache: imgcache.Cache{Root: filepath.Join(dir, "cache")}.ORAS()}
	for _, c := range []struct {
		src  string
		opts oras.Options
	}{{src, oras.Options{}}, {def, oras.Options{}}, {src, cached}} {
		out := filepath.Join(dir, "out", "sandbox")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Build(context.Background(), Options{Out: out, Source: c.src, Sandbox: true, Force: true, ORAS: c.opts}); err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "etc", "motd")); string(b) != "from the pushed SIF" {
			t.Errorf("%s: etc/motd = %q", c.src, b)
		}
		if names, _ := os.ReadDir(filepath.Dir(out)); len(names) != 1 {
			t.Errorf("%s: left next to the output: %v", c.src, names)
		}
	}
	if entries, _ := os.ReadDir(cached.Cache.Dir); len(entries) != 1 {
		t.Errorf("the oras cache holds %d entries, want 1", len(entries))
	}
	// A reference with no artifact fails and leaves nothing.
	out := filepath.Join(dir, "out", "missing")
	if err := Build(context.Background(), Options{Out: out, Source: src + "-missing", Sandbox: true}); err == nil || !strings.Contains(err.Error(), "while fetching oras image") {
		t.Errorf("build from a missing artifact: %v", err)
	}
	if names, _ := os.ReadDir(filepath.Dir(out)); len(names) != 1 {
		t.Errorf("a failed build left %v", names)
	}
}
