package build

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestOCISource(t *testing.T) {
	for _, c := range []struct {
		h    map[string]string
		want string
	}{
		{map[string]string{"bootstrap": "docker", "from": "busybox:1.36"}, "docker://busybox:1.36"},
		{map[string]string{"bootstrap": "docker", "from": "//busybox"}, "docker://busybox"},
		{map[string]string{"bootstrap": "docker", "from": "busybox", "namespace": "library", "registry": "127.0.0.1:5000"}, "docker://127.0.0.1:5000/library/busybox"},
		{map[string]string{"bootstrap": "oci-archive", "from": "/x/img.tar:v1"}, "oci-archive:/x/img.tar:v1"},
		{map[string]string{"bootstrap": "oci", "from": "layout"}, "oci:layout"},
	} {
		if got := ociSource(c.h); got != c.want {
			t.Errorf("ociSource(%v) = %q, want %q", c.h, got, c.want)
		}
	}
}

// runSh sources script (if any) then runs body with /bin/sh, returning
// its standard output.
func runSh(t *testing.T, env []string, script string, args ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(f, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", append([]string{f}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	return string(out)
}

func TestOCIEnvScript(t *testing.T) {
	script := ociEnvScript([]string{"PATH=/opt/bin:/bin", "KEPT=image", "PLAIN=a \"quoted\" $HOME `x` \\ value", "EMPTY", "bad-name=x", "1BAD=x"})
	if strings.Contains(script, "bad-name") || strings.Contains(script, "1BAD") {
		t.Errorf("invalid names written:\n%s", script)
	}
	show := script + "\nprintf '%s|%s|%s|%s|%s\\n' \"$PATH\" \"$KEPT\" \"$PLAIN\" \"${EMPTY-unset}\" \"$(env | grep -c '^EMPTY=')\"\n"
	got := runSh(t, []string{"KEPT=user", "HOME=/home/u"}, show)
	want := "/opt/bin:/bin|user|a \"quoted\" $HOME `x` \\ value||1\n"
	if got != want {
		t.Errorf("env gives %q, want %q\n%s", got, want, script)
	}
	got = runSh(t, nil, show)
	if !strings.HasPrefix(got, "/opt/bin:/bin|image|") {
		t.Errorf("without a user value, the image's is not set: %q", got)
	}
}

func TestOCIRunscript(t *testing.T) {
	printArgs := `for a in "$@"; do printf '[%s]' "$a"; done; echo`
	ep := []string{"/bin/sh", "-c", printArgs, "sh"}
	cases := []struct {
		name     string
		ep, cmd  []string
		args     []string
		noEval   bool
		want     string
		wantExit bool
	}{
		{"entrypoint and cmd, taken as written", ep, []string{"default arg", "$HOME"}, nil, false, "[default arg][$HOME]\n", false},
		{"args replace cmd", ep, []string{"default"}, []string{"a b", "$HOME"}, false, "[a b][/home/u]\n", false},
		{"no-eval keeps words", ep, []string{"$HOME", "it's"}, nil, true, "[$HOME][it's]\n", false},
		{"no-eval args", ep, []string{"default"}, []string{"$HOME"}, true, "[$HOME]\n", false},
		{"cmd only", nil, []string{"/bin/echo", "from cmd"}, nil, false, "from cmd\n", false},
		{"cmd only, args replace it", nil, []string{"/bin/echo", "from cmd"}, []string{"/bin/echo", "from args"}, false, "from args\n", false},
		{"cmd only, no-eval", nil, []string{"/bin/echo", "$HOME"}, nil, true, "$HOME\n", false},
		{"entrypoint only with quotes", []string{"/bin/echo", `it's "quoted"`}, nil, []string{"x"}, false, "it's \"quoted\" x\n", false},
		{"nothing", nil, nil, nil, false, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := []string{"HOME=/home/u"}
			if c.noEval {
				env = append(env, "APPTAINER_NO_EVAL=1")
			}
			rs := ociRunscript(v1.Config{Entrypoint: c.ep, Cmd: c.cmd})
			if got := runSh(t, env, rs, c.args...); got != c.want {
				t.Errorf("got %q, want %q\n%s", got, c.want, rs)
			}
		})
	}
}

// TestBuildFromOCILayout builds a sandbox from an OCI layout and a SIF-less
// docker archive: the layers, the ENV script, the runscript and the
// labels (the image's, then the definition's) are in place.
func TestBuildFromOCILayout(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
	_, _ = tw.Write([]byte("hello"))
	_ = tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, _ := mutate.AppendLayers(empty.Image, l)
	img, err = mutate.Config(img, v1.Config{Env: []string{"FOO=bar"}, Cmd: []string{"/bin/true"}, Labels: map[string]string{"from.image": "yes", "both": "image"}})
	if err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(dir, "layout")
	p, err := layout.Write(oci, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(dir, "x.def")
	if err := os.WriteFile(def, []byte("Bootstrap: oci\nFrom: "+oci+"\n%labels\nboth definition\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"oci:" + oci, def} {
		out := filepath.Join(dir, "sandbox")
		if err := Build(context.Background(), Options{Out: out, Source: src, Sandbox: true, Force: true}); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got, _ := os.ReadFile(filepath.Join(out, "etc/motd")); string(got) != "hello" {
			t.Errorf("%s: etc/motd = %q", src, got)
		}
		env, _ := os.ReadFile(filepath.Join(out, dockerEnvPath))
		rs, _ := os.ReadFile(filepath.Join(out, runscriptPath))
		if !strings.Contains(string(env), "FOO") || !strings.Contains(string(rs), "/bin/true") {
			t.Errorf("%s: env %q runscript %q", src, env, rs)
		}
		var labels map[string]string
		lj, _ := os.ReadFile(filepath.Join(out, labelsPath))
		if err := json.Unmarshal(lj, &labels); err != nil {
			t.Fatal(err)
		}
		wantBoth := "image"
		if src == def {
			wantBoth = "definition"
		}
		if labels["from.image"] != "yes" || labels["both"] != wantBoth {
			t.Errorf("%s: labels %v", src, labels)
		}
	}
	// A failed build leaves nothing next to its output.
	if err := Build(context.Background(), Options{Out: filepath.Join(dir, "bad"), Source: "oci:" + filepath.Join(dir, "missing"), Sandbox: true}); err == nil {
		t.Error("a missing layout was built from")
	}
	for _, src := range []string{"library://alpine", "oras:127.0.0.1:5000/x:1", "shub://x"} {
		err := Build(context.Background(), Options{Out: filepath.Join(dir, "bad"), Source: src, Sandbox: true})
		if err == nil || !strings.Contains(err.Error(), "is not supported by this build") {
			t.Errorf("%s: %v", src, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".apptainer-build-*"))
	if _, err := os.Stat(filepath.Join(dir, "bad")); err == nil || len(left) > 0 {
		t.Errorf("a failed build left %v", left)
	}
}

// TestBuildOCIMetaLinkOut: an image whose /.singularity.d (or labels.json)
// is a link to a host directory (file) cannot make the build write there
// or read from there.
func TestBuildOCIMetaLinkOut(t *testing.T) {
	host := t.TempDir()
	secret := filepath.Join(host, "labels.json")
	if err := os.WriteFile(secret, []byte(`{"host.secret": "leaked"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	layerOf := func(name, target string) v1.Layer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
		_ = tw.Close()
		b := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	rel := strings.Repeat("../", 16) + strings.TrimPrefix(host, "/")
	for _, c := range []struct{ name, link, target string }{
		{"absolute meta dir", ".singularity.d", host},
		{"relative meta dir", ".singularity.d", rel},
		{"labels file", ".singularity.d/labels.json", secret},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, _ := mutate.AppendLayers(empty.Image, layerOf(c.link, c.target))
			dir := t.TempDir()
			oci := filepath.Join(dir, "layout")
			p, err := layout.Write(oci, empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AppendImage(img); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			err = Build(context.Background(), Options{Out: out, Source: "oci:" + oci, Sandbox: true})
			t.Logf("build: %v", err)
			names, _ := os.ReadDir(host)
			if len(names) != 1 {
				t.Errorf("the build wrote into the host directory: %v", names)
			}
			if b, _ := os.ReadFile(secret); string(b) != `{"host.secret": "leaked"}` {
				t.Errorf("the host file changed: %q", b)
			}
			if lj, err := os.ReadFile(filepath.Join(out, labelsPath)); err == nil && strings.Contains(string(lj), "leaked") {
				t.Errorf("a host file was read into the labels: %s", lj)
			}
		})
	}
}
