//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tarLayer packs a directory as an image layer.
func tarLayer(t *testing.T, dir string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Name = rel
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// busyboxImage is the e2e busybox rootfs as an OCI image: a second layer
// deletes /etc/hostname with a whiteout and adds a file, and the config
// carries an ENV, ENTRYPOINT, CMD and a label.
func busyboxImage(t *testing.T) v1.Image {
	t.Helper()
	upper := t.TempDir()
	if err := os.MkdirAll(filepath.Join(upper, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"etc/.wh.hostname": "", "etc/upper": "from the upper layer\n"} {
		if err := os.WriteFile(filepath.Join(upper, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, err := mutate.AppendLayers(empty.Image, tarLayer(t, env.Busybox), tarLayer(t, upper))
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{
		Env:        []string{"PATH=/bin:/sbin", "E2E_GREETING=hello from the image config"},
		Entrypoint: []string{"/bin/echo", "entry:"},
		Cmd:        []string{"default-cmd"},
		Labels:     map[string]string{"org.e2e.label": "busybox-oci"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// startRegistry runs Debian's docker-registry on a free loopback port with
// its storage in a temporary directory, and stops it when the test ends.
func startRegistry(t *testing.T) string {
	t.Helper()
	return startRegistryWith(t, "")
}

// startRegistryWith starts the registry; with htpasswd (a line of an
// htpasswd file, bcrypt) it asks for basic authentication.
func startRegistryWith(t *testing.T, htpasswd string) string {
	t.Helper()
	addr, _ := startRegistryStorage(t, htpasswd)
	return addr
}

// startRegistryStorage starts the registry and also returns the
// directory it keeps its blobs in, for tests that damage them.
func startRegistryStorage(t *testing.T, htpasswd string) (addr, storage string) {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry is not installed (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	dir := t.TempDir()
	storage = filepath.Join(dir, "storage")
	conf := filepath.Join(dir, "config.yml")
	yml := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", storage, addr)
	if htpasswd != "" {
		pwfile := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pwfile, []byte(htpasswd+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		yml += fmt.Sprintf("auth:\n  htpasswd:\n    realm: e2e\n    path: %s\n", pwfile)
	}
	if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	var logb bytes.Buffer
	cmd := exec.Command(bin, "serve", conf)
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("docker-registry log:\n%s", logb.String())
		}
	})
	waitFor(t, 30*time.Second, "docker-registry to answer on "+addr, func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("docker-registry exited:\n%s", logb.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK || htpasswd != "" && resp.StatusCode == http.StatusUnauthorized, resp.Status
	})
	return addr, storage
}

// checkBusyboxSIF runs the image built from busyboxImage.
func checkBusyboxSIF(t *testing.T, sif string) {
	t.Helper()
	r := apptainer(t, "exec", sif, "/bin/sh", "-c", `echo "$E2E_GREETING"; cat /etc/upper; test -e /etc/hostname && echo hostname-present; busybox true && echo busybox-ok`)
	mustSucceed(t, r, "exec in "+sif)
	want := "hello from the image config\nfrom the upper layer\nbusybox-ok\n"
	if r.Stdout != want {
		t.Errorf("exec printed %q, want %q", r.Stdout, want)
	}
	r = apptainer(t, "run", sif)
	mustSucceed(t, r, "run "+sif)
	if r.Stdout != "entry: default-cmd\n" {
		t.Errorf("run printed %q, want ENTRYPOINT with CMD", r.Stdout)
	}
	r = apptainer(t, "run", sif, "one arg", "two")
	mustSucceed(t, r, "run with arguments")
	if r.Stdout != "entry: one arg two\n" {
		t.Errorf("run with arguments printed %q, want ENTRYPOINT with them", r.Stdout)
	}
	// Arguments are evaluated by the runscript, as upstream's; --no-eval
	// passes them as they are.
	r = apptainer(t, "run", sif, "$E2E_GREETING")
	mustSucceed(t, r, "run with a variable")
	if r.Stdout != "entry: hello from the image config\n" {
		t.Errorf("run '$E2E_GREETING' printed %q, want it evaluated", r.Stdout)
	}
	r = apptainer(t, "run", "--no-eval", sif, "$E2E_GREETING")
	mustSucceed(t, r, "run --no-eval")
	if r.Stdout != "entry: $E2E_GREETING\n" {
		t.Errorf("run --no-eval '$E2E_GREETING' printed %q, want it as it is", r.Stdout)
	}
	r = apptainer(t, "inspect", sif)
	mustSucceed(t, r, "inspect")
	if !strings.Contains(r.Stdout, "org.e2e.label: busybox-oci") {
		t.Errorf("the image's label is not in inspect:\n%s", r.Stdout)
	}
}

// TestBuildFromRegistry: build and pull from a registry on loopback, with
// the layer cache.
func TestBuildFromRegistry(t *testing.T) {
	addr := startRegistry(t)
	ref := addr + "/e2e/busybox:latest"
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, busyboxImage(t)); err != nil {
		t.Fatalf("push to the test registry: %v", err)
	}
	dir := t.TempDir()
	cache := filepath.Join(dir, "cachedir")
	cacheEnv := []string{"APPTAINER_CACHEDIR=" + cache}

	sif := filepath.Join(dir, "x.sif")
	mustSucceed(t, apptainerEnv(t, cacheEnv, "build", sif, "docker://"+ref), "build from the registry")
	checkBusyboxSIF(t, sif)
	blobs, _ := os.ReadDir(filepath.Join(cache, "cache", "blob", "blobs", "sha256"))
	if len(blobs) != 2 {
		t.Errorf("the layer cache holds %d entries, want the 2 layers", len(blobs))
	}
	// A second build takes the layers from the cache: the registry is
	// stopped from serving them by deleting them (its API allows it).
	for _, b := range blobs {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+"/v2/e2e/busybox/blobs/sha256:"+b.Name(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("deleting a layer from the registry: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	sifCached := filepath.Join(dir, "cached.sif")
	mustSucceed(t, apptainerEnv(t, cacheEnv, "build", sifCached, "docker://"+ref), "build from the cache")
	checkBusyboxSIF(t, sifCached)
	// Control: without the cache, the registry no longer has the layers.
	mustFail(t, apptainerEnv(t, cacheEnv, "build", "--disable-cache", filepath.Join(dir, "nocache.sif"), "docker://"+ref), "layer")

	r := apptainerEnv(t, cacheEnv, "cache", "list", "-v")
	mustSucceed(t, r, "cache list")
	if !strings.Contains(r.Stdout, "There are 0 container file(s) using 0.00 KiB and 2 oci blob file(s) using") || !strings.Contains(r.Stdout, blobs[0].Name()[:22]) {
		t.Errorf("cache list:\n%s", r)
	}
	mustSucceed(t, apptainerEnv(t, cacheEnv, "cache", "clean", "--dry-run"), "cache clean --dry-run")
	if left, _ := os.ReadDir(filepath.Join(cache, "cache", "blob", "blobs", "sha256")); len(left) != 2 {
		t.Errorf("a dry run removed blobs: %d left", len(left))
	}
	r = apptainerEnv(t, cacheEnv, "cache", "clean", "--force")
	mustSucceed(t, r, "cache clean --force")
	if left, _ := os.ReadDir(filepath.Join(cache, "cache", "blob", "blobs", "sha256")); len(left) != 0 || !strings.Contains(r.Stderr, "Removing blob cache entry") {
		t.Errorf("cache clean left %d blobs:\n%s", len(left), r)
	}
	// Push the image again for the rest of the test: its layers, which
	// were deleted, then the image. remote.Write alone skips an image
	// whose manifest the registry has, and a new busyboxImage made within
	// the same second as the first is the same image (the digest follows
	// the files' mtimes): the layers would stay missing.
	repush := busyboxImage(t)
	layers, err := repush.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		if err := remote.WriteLayer(tag.Context(), l); err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(tag, repush); err != nil {
		t.Fatal(err)
	}

	// exec/run of the source itself: a SIF made once, kept in oci-tmp.
	for i, want := range []string{"Converting OCI blobs to SIF format", "Using cached SIF image"} {
		r := apptainerEnv(t, cacheEnv, "exec", "docker://"+ref, "/bin/sh", "-c", `echo "$E2E_GREETING"`)
		mustSucceed(t, r, "exec docker://")
		if r.Stdout != "hello from the image config\n" || !strings.Contains(r.Stderr, want) {
			t.Errorf("exec docker:// #%d: want %q:\n%s", i+1, want, r)
		}
	}
	if sifs, _ := os.ReadDir(filepath.Join(cache, "cache", "oci-tmp")); len(sifs) != 1 {
		t.Errorf("oci-tmp holds %d SIFs, want 1", len(sifs))
	}
	// An instance runs the cached SIF; without the cache it is refused.
	stopOnCleanup(t, "oci1")
	r = apptainerEnv(t, cacheEnv, "instance", "start", "docker://"+ref, "oci1")
	mustSucceed(t, r, "instance start docker://")
	if !strings.Contains(r.Stderr, "Using cached SIF image") {
		t.Errorf("instance start did not use the cached SIF:\n%s", r)
	}
	r = apptainer(t, "exec", "instance://oci1", "cat", "/etc/upper")
	if r.Stdout != "from the upper layer\n" {
		t.Errorf("exec instance://oci1:\n%s", r)
	}
	mustSucceed(t, apptainer(t, "instance", "stop", "oci1"), "instance stop")
	mustFail(t, apptainerEnv(t, cacheEnv, "instance", "start", "--disable-cache", "docker://"+ref, "oci2"), "image cache, which is disabled")

	tmp := t.TempDir()
	r = apptainerEnv(t, append(cacheEnv, "TMPDIR="+tmp), "run", "--disable-cache", "docker://"+ref, "no cache")
	mustSucceed(t, r, "run --disable-cache docker://")
	if r.Stdout != "entry: no cache\n" {
		t.Errorf("run --disable-cache docker:// printed %q", r.Stdout)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the temporary SIF was left behind: %v", left)
	}

	// A definition with Registry: and a %runscript of its own.
	def := filepath.Join(dir, "x.def")
	if err := os.WriteFile(def, []byte("Bootstrap: docker\nRegistry: "+addr+"\nFrom: e2e/busybox:latest\n%runscript\necho own runscript \"$E2E_GREETING\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sif2 := filepath.Join(dir, "def.sif")
	mustSucceed(t, apptainer(t, "build", "--disable-cache", sif2, def), "build from a definition")
	r = apptainer(t, "run", sif2)
	mustSucceed(t, r, "run")
	if r.Stdout != "own runscript hello from the image config\n" {
		t.Errorf("run printed %q, want the definition's runscript", r.Stdout)
	}

	// pull: upstream's default name, no overwrite without --force.
	cmd := exec.Command(env.Bin, "pull", "docker://"+ref)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + env.Home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "APPTAINER_DISABLE_CACHE=1", "APPTAINER_CACHEDIR=" + filepath.Join(dir, "nocache")}
	mustSucceed(t, runResult(t, cmd), "pull")
	checkBusyboxSIF(t, filepath.Join(dir, "busybox_latest.sif"))
	if _, err := os.Stat(filepath.Join(dir, "nocache")); err == nil {
		t.Error("APPTAINER_DISABLE_CACHE=1 still made a cache")
	}
	again := exec.Command(env.Bin, "pull", "docker://"+ref)
	again.Dir, again.Env = dir, cmd.Env
	mustFail(t, runResult(t, again), "will not overwrite")
	mustSucceed(t, apptainer(t, "pull", "--force", filepath.Join(dir, "busybox_latest.sif"), "docker://"+ref), "pull --force")

	mustFail(t, apptainer(t, "build", filepath.Join(dir, "missing.sif"), "docker://"+addr+"/e2e/missing:latest"), "missing")
	mustFail(t, apptainer(t, "pull", filepath.Join(dir, "lib.sif"), "library://alpine"), "not supported by this build")
	left, _ := filepath.Glob(filepath.Join(dir, ".apptainer-*"))
	for _, p := range append(left, filepath.Join(dir, "missing.sif"), filepath.Join(dir, "lib.sif")) {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a failed build left %s", p)
		}
	}
}

// TestBuildFromOCIArchives: docker-archive, oci-archive and oci layouts
// made by the test, offline.
func TestBuildFromOCIArchives(t *testing.T) {
	img := busyboxImage(t)
	dir := t.TempDir()
	tag, _ := name.NewTag("e2e/busybox:v1")
	dockerTar := filepath.Join(dir, "docker.tar")
	if err := tarball.WriteToFile(dockerTar, tag, img); err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(dir, "layout")
	p, err := layout.Write(oci, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	ociTar := filepath.Join(dir, "oci.tar")
	if out, err := exec.Command("tar", "-C", oci, "-cf", ociTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	for i, src := range []string{"docker-archive:" + dockerTar, "docker-archive:" + dockerTar + ":e2e/busybox:v1", "oci:" + oci, "oci-archive:" + ociTar + ":v1"} {
		sif := filepath.Join(dir, fmt.Sprintf("%d.sif", i))
		mustSucceed(t, apptainer(t, "build", sif, src), "build from "+src)
		checkBusyboxSIF(t, sif)
	}
	sandbox := filepath.Join(dir, "sandbox")
	mustSucceed(t, apptainer(t, "build", "--sandbox", sandbox, "oci:"+oci), "build --sandbox")
	if _, err := os.Stat(filepath.Join(sandbox, ".singularity.d", "env", "10-docker2singularity.sh")); err != nil {
		t.Errorf("no ENV script in the sandbox: %v", err)
	}
	mustFail(t, apptainer(t, "build", filepath.Join(dir, "bad.sif"), "oci-archive:"+ociTar+":nosuch"), `no image named "nosuch"`)
}

// TestAttackOCILayers: a hostile image's layer plants a link to a host
// directory and writes through it, then whiteouts it; the host directory
// stays as it was, the write lands in the image. A layer with ".." fails
// the build and leaves nothing.
func TestAttackOCILayers(t *testing.T) {
	host := t.TempDir()
	secret := filepath.Join(host, "secret")
	if err := os.WriteFile(secret, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	layer := func(entries ...[3]string) v1.Layer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range entries {
			h := &tar.Header{Name: e[0], Mode: 0o644, ModTime: time.Unix(1700000000, 0)}
			switch e[1] {
			case "link":
				h.Typeflag, h.Linkname = tar.TypeSymlink, e[2]
			default:
				h.Typeflag, h.Size = tar.TypeReg, int64(len(e[2]))
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			_, _ = tw.Write([]byte(e[2]))
		}
		_ = tw.Close()
		b := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	build := func(id string, layers ...v1.Layer) (string, result) {
		img, err := mutate.AppendLayers(empty.Image, append([]v1.Layer{tarLayer(t, env.Busybox)}, layers...)...)
		if err != nil {
			t.Fatal(err)
		}
		archive := filepath.Join(t.TempDir(), id+".tar")
		tag, _ := name.NewTag("e2e/hostile:" + id)
		if err := tarball.WriteToFile(archive, tag, img); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		return out, apptainer(t, "build", "--sandbox", out, "docker-archive:"+archive)
	}
	out, r := build("through", layer([3]string{"evil", "link", host}, [3]string{"evil/pwned", "file", "x"}, [3]string{"evil/secret", "file", "overwritten"}),
		layer([3]string{"evil/.wh.secret", "file", ""}))
	mustSucceed(t, r, "build of the link-and-write image")
	if b, err := os.ReadFile(secret); err != nil || string(b) != "host" {
		t.Errorf("the host secret was changed or removed: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(host, "pwned")); err == nil {
		t.Error("the layer wrote into the host directory")
	}
	if b, err := os.ReadFile(filepath.Join(out, host, "pwned")); err != nil || string(b) != "x" {
		t.Errorf("the write did not land inside the image: %q %v", b, err)
	}
	// Control: the planted link is there, aimed at the host directory.
	if to, err := os.Readlink(filepath.Join(out, "evil")); err != nil || to != host {
		t.Errorf("control: evil -> %q %v", to, err)
	}

	dotdot, r := build("dotdot", layer([3]string{"../../../../" + host + "/pwned2", "file", "x"}))
	mustFail(t, r, "path escapes the root file system")
	if _, err := os.Stat(dotdot); err == nil {
		t.Error("a failed build left its output")
	}
	if _, err := os.Stat(filepath.Join(host, "pwned2")); err == nil {
		t.Error("the .. entry reached the host")
	}
	mustFail(t, apptainer(t, "build", filepath.Join(t.TempDir(), "x.sif"), "library://alpine"), `transport "library" is not supported by this build`)
}

// e2eHtpasswd is alice's line for the password "e2e-secret" (bcrypt, as
// docker-registry requires; made once with golang.org/x/crypto/bcrypt).
const e2eHtpasswd = "alice:$2a$10$db2WxUdDRbH99v0IPKismu8oqrZ/FOg4hSWIFlC7eTxOHrjJ1AVKm"

// TestRegistryAuth: a registry that wants a login. Without credentials
// the build fails; with them in the environment, or stored by registry
// login in an --authfile, it works, until registry logout.
func TestRegistryAuth(t *testing.T) {
	addr := startRegistryWith(t, e2eHtpasswd)
	ref := addr + "/private/busybox:latest"
	tag, _ := name.NewTag(ref)
	if err := remote.Write(tag, busyboxImage(t), remote.WithAuth(&authn.Basic{Username: "alice", Password: "e2e-secret"})); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	dir := t.TempDir()
	noCache := []string{"APPTAINER_DISABLE_CACHE=1"}
	mustFail(t, apptainerEnv(t, noCache, "build", filepath.Join(dir, "anon.sif"), "docker://"+ref), "UNAUTHORIZED")

	withEnv := filepath.Join(dir, "env.sif")
	mustSucceed(t, apptainerEnv(t, append(noCache, "APPTAINER_DOCKER_USERNAME=alice", "APPTAINER_DOCKER_PASSWORD=e2e-secret"),
		"build", withEnv, "docker://"+ref), "build with APPTAINER_DOCKER_USERNAME/PASSWORD")
	checkBusyboxSIF(t, withEnv)

	authFile := filepath.Join(dir, "auth", "config.json")
	login := func(password string) result {
		cmd := exec.Command(env.Bin, "registry", "login", "--authfile", authFile, "-u", "alice", "--password-stdin", "docker://"+addr)
		cmd.Env = []string{"HOME=" + env.Home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		cmd.Stdin = strings.NewReader(password + "\n")
		return runResult(t, cmd)
	}
	mustFail(t, login("wrong"), "while login to "+addr)
	if _, err := os.Stat(authFile); err == nil {
		t.Error("a failed login wrote the auth file")
	}
	r := login("e2e-secret")
	mustSucceed(t, r, "registry login")
	if !strings.Contains(r.Stderr, "Token stored in "+authFile) {
		t.Errorf("registry login:\n%s", r)
	}
	if fi, err := os.Stat(authFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the auth file is not private: %v %v", fi, err)
	}
	withFile := filepath.Join(dir, "file.sif")
	mustSucceed(t, apptainerEnv(t, noCache, "build", "--authfile", authFile, withFile, "docker://"+ref), "build --authfile")
	checkBusyboxSIF(t, withFile)
	r = apptainerEnv(t, append(noCache, "APPTAINER_AUTH_FILE="+authFile), "exec", "docker://"+ref, "/bin/sh", "-c", "cat /etc/upper")
	mustSucceed(t, r, "exec docker:// with APPTAINER_AUTH_FILE")

	r = apptainer(t, "registry", "logout", "--authfile", authFile, "docker://"+addr)
	mustSucceed(t, r, "registry logout")
	if !strings.Contains(r.Stderr, "Logout succeeded") {
		t.Errorf("registry logout:\n%s", r)
	}
	mustFail(t, apptainerEnv(t, noCache, "build", "--authfile", authFile, filepath.Join(dir, "out.sif"), "docker://"+ref), "UNAUTHORIZED")
	mustFail(t, apptainer(t, "registry", "logout", "--authfile", authFile, "docker://"+addr), "not logged in")
}
