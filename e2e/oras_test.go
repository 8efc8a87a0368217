//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	sifLayerType  = "application/vnd.sylabs.sif.layer.v1.sif"
	sifConfigType = "application/vnd.sylabs.sif.config.v1+json"
)

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// names lists a directory, none when it is missing.
func names(dir string) []string {
	des, _ := os.ReadDir(dir)
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// rawManifest fetches a manifest as the registry stores it.
func rawManifest(t *testing.T, addr, repo, tag string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", string(types.OCIManifestSchema1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("manifest of %s:%s: %v", repo, tag, err)
	}
	return m
}

// pullIn runs pull in dir (for the default output name) with the
// test's HOME and extra environment.
func pullIn(t *testing.T, dir string, extra []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(env.Bin, append([]string{"pull"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + env.Home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, extra...)
	return runResult(t, cmd)
}

// TestORASPushPull: push a SIF to the loopback registry and pull it back
// identical, through the cache and without it; exec, build, sandbox and
// instance of the oras:// reference.
func TestORASPushPull(t *testing.T) {
	addr := startRegistry(t)
	dir := t.TempDir()
	sif := busyboxSIF(t)
	want := sha256File(t, sif)
	ref := "oras://" + addr + "/e2e/bb:v1"

	r := apptainer(t, "push", "--annotation", "org.e2e.k=v", "-D", "e2e image", sif, ref)
	mustSucceed(t, r, "push")
	if !strings.Contains(r.Stderr, "Upload complete") {
		t.Errorf("push:\n%s", r)
	}
	// Upstream's layout: what its pull checks and how it names things.
	m := rawManifest(t, addr, "e2e/bb", "v1")
	layers, _ := m["layers"].([]any)
	if len(layers) != 1 {
		t.Fatalf("manifest has %d layers: %v", len(layers), m)
	}
	layer := layers[0].(map[string]any)
	cfg := m["config"].(map[string]any)
	ann, _ := m["annotations"].(map[string]any)
	if layer["mediaType"] != sifLayerType || layer["digest"] != "sha256:"+want || cfg["mediaType"] != sifConfigType ||
		layer["annotations"].(map[string]any)["org.opencontainers.image.title"] != "busybox.sif" ||
		ann["org.e2e.k"] != "v" || ann["org.opencontainers.image.description"] != "e2e image" {
		t.Errorf("manifest in the registry: %v", m)
	}

	cache := filepath.Join(dir, "cachedir")
	cacheEnv := []string{"APPTAINER_CACHEDIR=" + cache}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	// Default name NAME_TAG.sif; the SIF lands in the cache first.
	r = pullIn(t, work, cacheEnv, ref)
	mustSucceed(t, r, "pull")
	pulled := filepath.Join(work, "bb_v1.sif")
	if sha256File(t, pulled) != want || !strings.Contains(r.Stderr, "Downloading oras image") {
		t.Errorf("pulled file differs from the pushed one, or no download:\n%s", r)
	}
	if entries := names(filepath.Join(cache, "cache", "oras")); len(entries) != 1 || entries[0] != "sha256:"+want {
		t.Errorf("oras cache holds %v", entries)
	}
	r = apptainerEnv(t, cacheEnv, "cache", "list", "-v")
	mustSucceed(t, r, "cache list")
	if !strings.Contains(r.Stdout, "oras") || !strings.Contains(r.Stdout, "There are 1 container file(s)") {
		t.Errorf("cache list:\n%s", r)
	}
	// No overwrite without --force; with it, from the cache.
	if err := os.WriteFile(pulled, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustFail(t, pullIn(t, work, cacheEnv, ref), "will not overwrite")
	if b, _ := os.ReadFile(pulled); string(b) != "old" {
		t.Error("a refused pull changed the existing file")
	}
	r = pullIn(t, work, cacheEnv, "--force", ref)
	mustSucceed(t, r, "pull --force")
	if sha256File(t, pulled) != want || !strings.Contains(r.Stderr, "Using cached SIF image") {
		t.Errorf("pull --force:\n%s", r)
	}
	r = apptainer(t, "exec", pulled, "/bin/busybox", "cat", "/etc/hostname")
	mustSucceed(t, r, "exec of the pulled image")
	if r.Stdout != "busybox\n" {
		t.Errorf("exec printed %q", r.Stdout)
	}

	// Without the cache: straight to the output, and APPTAINER_FORCE.
	nocache := filepath.Join(dir, "nocache.sif")
	mustSucceed(t, apptainer(t, "pull", "--disable-cache", nocache, ref), "pull --disable-cache")
	mustSucceed(t, apptainerEnv(t, []string{"APPTAINER_DISABLE_CACHE=1", "APPTAINER_FORCE=1"}, "pull", nocache, ref), "pull with APPTAINER_FORCE")
	if sha256File(t, nocache) != want {
		t.Error("the file pulled without cache differs")
	}

	// exec of the reference: cached, and with no cache a temporary copy
	// that is removed.
	r = apptainerEnv(t, cacheEnv, "exec", ref, "/bin/busybox", "echo", "from oras")
	mustSucceed(t, r, "exec oras://")
	if r.Stdout != "from oras\n" || !strings.Contains(r.Stderr, "Using cached SIF image") {
		t.Errorf("exec oras://:\n%s", r)
	}
	tmp := t.TempDir()
	r = apptainerEnv(t, append(cacheEnv, "TMPDIR="+tmp), "exec", "--disable-cache", ref, "/bin/busybox", "true")
	mustSucceed(t, r, "exec --disable-cache oras://")
	if left := names(tmp); len(left) != 0 {
		t.Errorf("the temporary SIF was left behind: %v", left)
	}

	// build from the reference, and pull --sandbox.
	built := filepath.Join(dir, "built.sif")
	mustSucceed(t, apptainerEnv(t, cacheEnv, "build", built, ref), "build from oras://")
	r = apptainer(t, "exec", built, "/bin/busybox", "cat", "/etc/hostname")
	if r.Code != 0 || r.Stdout != "busybox\n" {
		t.Errorf("exec of the image built from oras://:\n%s", r)
	}
	sandbox := filepath.Join(dir, "sandbox")
	mustSucceed(t, apptainerEnv(t, cacheEnv, "pull", "--sandbox", sandbox, ref), "pull --sandbox")
	if fi, err := os.Stat(filepath.Join(sandbox, "bin", "busybox")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the sandbox lacks bin/busybox: %v", err)
	}

	// An instance runs the cached SIF.
	stopOnCleanup(t, "oras1")
	mustSucceed(t, apptainerEnv(t, cacheEnv, "instance", "start", ref, "oras1"), "instance start oras://")
	r = apptainer(t, "exec", "instance://oras1", "cat", "/etc/hostname")
	if r.Stdout != "busybox\n" {
		t.Errorf("exec instance://oras1:\n%s", r)
	}
	mustSucceed(t, apptainer(t, "instance", "stop", "oras1"), "instance stop")
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// upstreamManifest is a manifest as upstream's push writes it (its
// layout, field for field), for a SIF of the given digest and size.
func upstreamManifest(layerType, digest string, size int) []byte {
	return fmt.Appendf(nil, `{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.sylabs.sif.config.v1+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2,
    "data": "e30="
  },
  "layers": [
    {
      "mediaType": %q,
      "digest": "sha256:%s",
      "size": %d,
      "annotations": {"org.opencontainers.image.title": "busybox.sif"}
    }
  ],
  "annotations": {"org.opencontainers.image.created": "2024-01-02T03:04:05Z"}
}`, layerType, digest, size)
}

// rawPut puts a manifest of raw bytes.
type rawPut []byte

func (b rawPut) RawManifest() ([]byte, error)        { return b, nil }
func (b rawPut) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// pushUpstreamLayout puts blobs and a hand-written manifest of upstream's
// form, as upstream's push (or an oras client) leaves them.
func pushUpstreamLayout(t *testing.T, ref string, body []byte, layerType string) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []v1.Layer{static.NewLayer(body, types.MediaType(layerType)), static.NewLayer([]byte("{}"), sifConfigType)} {
		if err := remote.WriteLayer(tag.Context(), l); err != nil {
			t.Fatal(err)
		}
	}
	s := sha256.Sum256(body)
	if err := remote.Put(tag, rawPut(upstreamManifest(layerType, hex.EncodeToString(s[:]), len(body)))); err != nil {
		t.Fatal(err)
	}
}

// TestORASRefusals: what is not a SIF is refused, on push and on pull,
// and a refused or damaged pull leaves nothing; an artifact in upstream's
// form (and its old prototype media type) is pulled.
func TestORASRefusals(t *testing.T) {
	addr, storage := startRegistryStorage(t, "")
	dir := t.TempDir()
	sif := busyboxSIF(t)
	body, err := os.ReadFile(sif)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256File(t, sif)

	// Interop: upstream's layout is pulled, by either layer media type.
	for _, lt := range []string{sifLayerType, "appliciation/vnd.sylabs.sif.layer.tar"} {
		pushUpstreamLayout(t, addr+"/up/bb:1", body, lt)
		out := filepath.Join(dir, "up.sif")
		mustSucceed(t, apptainer(t, "pull", "--force", "--disable-cache", out, "oras://"+addr+"/up/bb:1"), "pull of upstream's layout "+lt)
		if sha256File(t, out) != want {
			t.Errorf("%s: pulled file differs", lt)
		}
	}

	notSIF := filepath.Join(dir, "not.sif")
	if err := os.WriteFile(notSIF, []byte("#!/bin/sh\necho I am no SIF\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustFail(t, apptainer(t, "push", notSIF, "oras://"+addr+"/e2e/not:1"), "is not a SIF")
	if resp, err := http.Get("http://" + addr + "/v2/e2e/not/tags/list"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the refused push reached the registry: %s", resp.Status)
		}
	}
	mustFail(t, apptainer(t, "push", sif, "docker://"+addr+"/e2e/x:1"), "Unsupported transport type: docker")
	mustFail(t, apptainer(t, "push", sif, "library://u/c/x:1"), `transport "library" is not supported by this build`)

	// Docker images (of two layers, and of one), and a non-SIF under
	// the SIF media type.
	tag, _ := name.NewTag(addr + "/e2e/docker:1")
	if err := remote.Write(tag, busyboxImage(t)); err != nil {
		t.Fatal(err)
	}
	one, err := mutate.AppendLayers(empty.Image, tarLayer(t, env.Busybox))
	if err != nil {
		t.Fatal(err)
	}
	tag, _ = name.NewTag(addr + "/e2e/docker:one")
	if err := remote.Write(tag, one); err != nil {
		t.Fatal(err)
	}
	pushUpstreamLayout(t, addr+"/e2e/fake:1", []byte("#!/bin/sh\nrm -rf / # not a SIF\n"), sifLayerType)
	// A SIF whose blob the registry now serves damaged.
	mustSucceed(t, apptainer(t, "push", sif, "oras://"+addr+"/e2e/damaged:1"), "push")
	blob := filepath.Join(storage, "docker", "registry", "v2", "blobs", "sha256", want[:2], want, "data")
	damaged := append([]byte(nil), body...)
	damaged[len(damaged)/2] ^= 0xff
	if err := os.WriteFile(blob, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ ref, msg string }{
		{"e2e/docker:1", "ORAS SIF image should have a single layer, found 2"},
		{"e2e/docker:one", "invalid layer mediatype"},
		{"e2e/fake:1", "not a SIF"},
		{"e2e/damaged:1", "sha256"},
		{"e2e/missing:1", "MANIFEST_UNKNOWN"},
	}
	for _, c := range cases {
		for _, extra := range [][]string{{"APPTAINER_DISABLE_CACHE=1"}, {"APPTAINER_CACHEDIR=" + filepath.Join(dir, "cache")}} {
			out := filepath.Join(dir, "out")
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			mustFail(t, apptainerEnv(t, extra, "pull", filepath.Join(out, "x.sif"), "oras://"+addr+"/"+c.ref), c.msg)
			tmp := t.TempDir()
			mustFail(t, apptainerEnv(t, append(extra, "TMPDIR="+tmp), "exec", "oras://"+addr+"/"+c.ref, "true"), c.msg)
			if left := append(append(names(out), names(tmp)...), names(filepath.Join(dir, "cache", "cache", "oras"))...); len(left) != 0 {
				t.Errorf("%s %v: left behind %v", c.ref, extra, left)
			}
			mustFail(t, apptainerEnv(t, extra, "build", filepath.Join(out, "b.sif"), "oras://"+addr+"/"+c.ref), c.msg)
			if left := names(out); len(left) != 0 {
				t.Errorf("%s %v: build left %v", c.ref, extra, left)
			}
		}
	}
	// Control: the same blob, undamaged, pulls.
	if err := os.WriteFile(blob, body, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "repaired.sif")
	mustSucceed(t, apptainer(t, "pull", "--disable-cache", out, "oras://"+addr+"/e2e/damaged:1"), "pull of the repaired blob")
	if sha256File(t, out) != want {
		t.Error("the repaired pull differs")
	}

	// A link planted at the output is replaced with --force, not written
	// through: the file it points to stays as it was.
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("host file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.sif")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	mustFail(t, apptainer(t, "pull", "--disable-cache", link, "oras://"+addr+"/e2e/damaged:1"), "will not overwrite")
	mustSucceed(t, apptainer(t, "pull", "--force", "--disable-cache", link, "oras://"+addr+"/e2e/damaged:1"), "pull --force over a link")
	if b, _ := os.ReadFile(victim); string(b) != "host file\n" {
		t.Errorf("the pull wrote through the link: victim is now %d bytes", len(b))
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() || sha256File(t, link) != want {
		t.Errorf("the output is not the pulled SIF: %v %v", fi, err)
	}
}

// TestORASAuth: a registry that wants a login; push and pull with the
// credentials of the environment, of registry login into an --authfile,
// and of registry login into the default file.
func TestORASAuth(t *testing.T) {
	addr := startRegistryWith(t, e2eHtpasswd)
	dir := t.TempDir()
	sif := busyboxSIF(t)
	want := sha256File(t, sif)
	ref := "oras://" + addr + "/private/bb:1"
	noCache := []string{"APPTAINER_DISABLE_CACHE=1"}

	mustFail(t, apptainer(t, "push", sif, ref), "401 Unauthorized")
	creds := []string{"APPTAINER_DOCKER_USERNAME=alice", "APPTAINER_DOCKER_PASSWORD=e2e-secret"}
	mustSucceed(t, apptainerEnv(t, creds, "push", sif, ref), "push with APPTAINER_DOCKER_USERNAME/PASSWORD")
	mustFail(t, apptainerEnv(t, noCache, "pull", filepath.Join(dir, "anon.sif"), ref), "UNAUTHORIZED")
	if _, err := os.Stat(filepath.Join(dir, "anon.sif")); err == nil {
		t.Error("a refused pull left its output")
	}
	mustSucceed(t, apptainerEnv(t, noCache, "pull", "--docker-username", "alice", "--docker-password", "e2e-secret", filepath.Join(dir, "flags.sif"), ref), "pull with --docker-username/--docker-password")

	authFile := filepath.Join(dir, "auth", "config.json")
	home := t.TempDir()
	login := func(file string) {
		args := []string{"registry", "login", "-u", "alice", "--password-stdin"}
		if file != "" {
			args = append(args, "--authfile", file)
		}
		cmd := exec.Command(env.Bin, append(args, "oras://"+addr)...)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		cmd.Stdin = strings.NewReader("e2e-secret\n")
		mustSucceed(t, runResult(t, cmd), "registry login "+file)
	}
	login(authFile)
	mustSucceed(t, apptainer(t, "push", "--authfile", authFile, sif, "oras://"+addr+"/private/bb:2"), "push --authfile")
	out := filepath.Join(dir, "file.sif")
	mustSucceed(t, apptainerEnv(t, noCache, "pull", "--authfile", authFile, out, "oras://"+addr+"/private/bb:2"), "pull --authfile")
	if sha256File(t, out) != want {
		t.Error("the file pulled with --authfile differs")
	}
	r := apptainerEnv(t, append(noCache, "APPTAINER_AUTH_FILE="+authFile), "exec", ref, "/bin/busybox", "echo", "authorized")
	if r.Code != 0 || r.Stdout != "authorized\n" {
		t.Errorf("exec oras:// with APPTAINER_AUTH_FILE:\n%s", r)
	}
	mustSucceed(t, apptainer(t, "registry", "logout", "--authfile", authFile, "oras://"+addr), "registry logout")
	mustFail(t, apptainerEnv(t, noCache, "pull", "--authfile", authFile, filepath.Join(dir, "out.sif"), ref), "UNAUTHORIZED")

	// The default file of registry login, in the user's home.
	login("")
	asUser := []string{"HOME=" + home, "APPTAINER_DISABLE_CACHE=1"}
	mustSucceed(t, apptainerEnv(t, asUser, "push", sif, "oras://"+addr+"/private/bb:3"), "push with registry login's default file")
	out = filepath.Join(dir, "default.sif")
	mustSucceed(t, apptainerEnv(t, asUser, "pull", out, "oras://"+addr+"/private/bb:3"), "pull with registry login's default file")
	if sha256File(t, out) != want {
		t.Error("the file pulled with the default login differs")
	}
}
