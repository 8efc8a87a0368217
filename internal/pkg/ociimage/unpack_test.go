package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ent is one tar entry of a test layer.
type ent struct {
	name, body, link string
	typ              byte
	mode             int64
}

func file(name, body string) ent { return ent{name: name, body: body, typ: tar.TypeReg, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) ent {
	return ent{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, to string) ent { return ent{name: name, link: to, typ: tar.TypeLink, mode: 0o644} }

func layerOf(t *testing.T, es ...ent) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)),
			ModTime: time.Unix(1700000000, 0), Uid: 1234, Gid: 5678}
		if e.typ == tar.TypeChar {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
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

func imageOf(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func unpackInto(t *testing.T, img v1.Image) (string, error) {
	t.Helper()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	return rootfs, Unpack(context.Background(), img, rootfs, func(msg string) { t.Log("warning: " + msg) })
}

func readOr(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestUnpackLayersAndWhiteouts(t *testing.T) {
	img := imageOf(t,
		layerOf(t, dir("etc/"), file("etc/keep", "k1"), file("etc/gone", "g"), file("./etc/replaced", "old"),
			dir("opq/"), file("opq/lower", "l"), dir("opq/sub/"), file("opq/sub/deep", "d"),
			file("bin/busybox", "bb"), hardlink("bin/sh", "bin/busybox"), symlink("usr/bin", "../bin")),
		layerOf(t, file("etc/replaced", "new"), file("etc/.wh.gone", ""),
			file("opq/upper", "u"), file("opq/.wh..wh..opq", ""), file("/abs", "contained")),
	)
	rootfs, err := unpackInto(t, img)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"etc/keep": "k1", "etc/replaced": "new", "opq/upper": "u", "bin/sh": "bb",
		"usr/bin/busybox": "bb", "abs": "contained",
	}
	for p, body := range want {
		if got := readOr(t, filepath.Join(rootfs, p)); got != body {
			t.Errorf("%s = %q, want %q", p, got, body)
		}
	}
	for _, p := range []string{"etc/gone", "opq/lower", "opq/sub"} {
		if _, err := os.Lstat(filepath.Join(rootfs, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: whiteout did not remove it (%v)", p, err)
		}
	}
	a, _ := os.Stat(filepath.Join(rootfs, "bin/busybox"))
	b, _ := os.Stat(filepath.Join(rootfs, "bin/sh"))
	if !os.SameFile(a, b) {
		t.Error("bin/sh is not a hard link of bin/busybox")
	}
	if os.Geteuid() == 0 {
		st := a.Sys().(*syscall.Stat_t)
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("owner %d:%d, want 1234:5678", st.Uid, st.Gid)
		}
	}
	if !a.ModTime().Equal(time.Unix(1700000000, 0)) {
		t.Errorf("mtime %v not kept", a.ModTime())
	}
}

func TestEntryPath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a/b", "a/b"}, {"./a//b/", "a/b"}, {"/etc/passwd", "etc/passwd"}, {".", "."}, {"./", "."}, {"/", "."},
		{"../x", ""}, {"a/../../x", ""}, {"a/..", ""}, {"/..", ""},
	} {
		got, err := entryPath(c.in)
		if c.want == "" {
			if !errors.Is(err, ErrEscape) {
				t.Errorf("entryPath(%q) = %q, %v; want ErrEscape", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("entryPath(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestClassifyWhiteout(t *testing.T) {
	for _, c := range []struct {
		in     string
		kind   whiteoutKind
		target string
		bad    bool
	}{
		{"a/b", notWhiteout, "", false},
		{"a/.wh.b", whiteoutOne, "a/b", false},
		{".wh.top", whiteoutOne, "top", false},
		{"a/.wh..wh..opq", whiteoutOpaque, "a", false},
		{".wh..wh..opq", whiteoutOpaque, ".", false},
		{"a/.wh..wh.plnk", whiteoutOther, "", false},
		{"a/.wh...", 0, "", true},
		{"a/.wh..", 0, "", true},
		{".wh.", 0, "", true},
	} {
		kind, target, err := classifyWhiteout(c.in)
		if c.bad != (err != nil) || kind != c.kind || target != c.target {
			t.Errorf("classifyWhiteout(%q) = %v, %q, %v", c.in, kind, target, err)
		}
	}
}

// outside makes a host directory with a secret file, the target of the
// attacks below, and a check that it is as made.
func outside(t *testing.T) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, func() {
		t.Helper()
		names, _ := os.ReadDir(dir)
		if len(names) != 1 || readOr(t, secret) != "host" {
			t.Errorf("the host directory %s was changed: %v, secret %q", dir, names, readOr(t, secret))
		}
		fi, err := os.Stat(secret)
		if err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 1 || fi.Mode().Perm() != 0o600 {
			t.Errorf("the host secret was linked to or changed: %v %v", fi, err)
		}
		if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
			t.Errorf("the host directory's mode changed: %v", di.Mode())
		}
	}
}

// TestHostileLayers: each attack is contained (written inside the root)
// or refused, and the host directory it aims at stays as it was. The
// control in each case shows the attack would have worked unresolved.
func TestHostileLayers(t *testing.T) {
	host, check := outside(t)
	defer check()
	rel := strings.Repeat("../", 20) + strings.TrimPrefix(host, "/")
	cases := []struct {
		name    string
		layers  [][]ent
		refused bool
		// inside is where the write must have landed instead, if anywhere.
		inside string
	}{
		{"traversal", [][]ent{{file("../../../../"+host+"/pwned", "x")}}, true, ""},
		{"dotdot in the middle", [][]ent{{dir("a/"), file("a/../../pwned", "x")}}, true, ""},
		{"absolute name", [][]ent{{file(host+"/pwned", "x")}}, false, host + "/pwned"},
		{"write through an absolute symlink", [][]ent{{symlink("evil", host), file("evil/pwned", "x")}}, false, host + "/pwned"},
		{"write through a relative symlink", [][]ent{{symlink("evil", rel), file("evil/pwned", "x")}}, false, host + "/pwned"},
		{"write through a symlink of a lower layer", [][]ent{{symlink("evil", host)}, {file("evil/pwned", "x")}}, false, host + "/pwned"},
		{"directory through a symlink", [][]ent{{symlink("evil", host)}, {dir("evil/sub/"), file("evil/sub/pwned", "x")}}, false, host + "/sub/pwned"},
		{"symlink chain", [][]ent{{symlink("a", "b"), symlink("b", host)}, {file("a/pwned", "x")}}, false, host + "/pwned"},
		{"overwrite through a final symlink", [][]ent{{symlink("f", host+"/secret")}, {file("f", "x")}}, false, "f"},
		{"hardlink with dotdot", [][]ent{{hardlink("h", "../../../../"+host+"/secret")}}, true, ""},
		{"hardlink to an absolute host path", [][]ent{{hardlink("h", host+"/secret")}}, true, ""},
		{"hardlink through a symlink", [][]ent{{symlink("evil", host), hardlink("h", "evil/secret")}}, true, ""},
		{"whiteout of dotdot", [][]ent{{file("a/x", "x")}, {file("a/.wh...", "")}}, true, ""},
		{"whiteout of dot", [][]ent{{file("a/x", "x")}, {file("a/.wh..", "")}}, true, ""},
		{"whiteout through a symlink", [][]ent{{symlink("evil", host)}, {file("evil/.wh.secret", "")}}, false, ""},
		{"opaque through a symlink", [][]ent{{symlink("evil", host)}, {file("evil/.wh..wh..opq", "")}}, false, ""},
		{"directory mode through a later symlink", [][]ent{{{name: "d/", typ: tar.TypeDir, mode: 0o777}, symlink("d", host)}}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ls []v1.Layer
			for _, es := range c.layers {
				ls = append(ls, layerOf(t, es...))
			}
			rootfs, err := unpackInto(t, imageOf(t, ls...))
			if c.refused {
				if err == nil {
					t.Fatal("hostile layer accepted")
				}
				t.Log(err)
			} else if err != nil {
				t.Fatal(err)
			}
			// Control: the link the attack planted is there as made, aimed
			// at the host; only the resolution inside the root stopped it.
			if to, err := os.Readlink(filepath.Join(rootfs, "evil")); err == nil && to != host && to != rel {
				t.Errorf("evil -> %q, want the planted target", to)
			}
			if c.inside != "" {
				if got := readOr(t, filepath.Join(rootfs, c.inside)); got != "x" {
					t.Errorf("%s in the root holds %q, want the write contained there", c.inside, got)
				}
			}
			check()
		})
	}
	// Positive control: a plain filepath.Join through the link, as a
	// naive extractor writes, does reach the host directory.
	rootfs, err := unpackInto(t, imageOf(t, layerOf(t, symlink("evil", host))))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(rootfs, "evil", "secret")); err != nil || string(b) != "host" {
		t.Fatalf("control: the planted link does not lead to the host secret: %q %v", b, err)
	}
}

func TestUnpackDeviceNodes(t *testing.T) {
	img := imageOf(t, layerOf(t, ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666}, ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600}))
	rootfs, err := unpackInto(t, img)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(rootfs, "run/fifo"))
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("run/fifo: %v %v", fi, err)
	}
	fi, err = os.Lstat(filepath.Join(rootfs, "dev/null"))
	if os.Geteuid() != 0 {
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dev/null made without root: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&os.ModeCharDevice == 0 || st.Rdev != 0x103 {
		t.Errorf("dev/null: mode %v rdev %#x, want the char device 1:3", fi.Mode(), st.Rdev)
	}
}

// A directory that is read-only in the image still receives its files.
func TestUnpackReadOnlyDirectory(t *testing.T) {
	img := imageOf(t, layerOf(t, ent{name: "ro/", typ: tar.TypeDir, mode: 0o555}, file("ro/f", "f")),
		layerOf(t, file("ro/g", "g")))
	rootfs, err := unpackInto(t, img)
	if err != nil {
		t.Fatal(err)
	}
	if got := readOr(t, filepath.Join(rootfs, "ro/g")); got != "g" {
		t.Errorf("ro/g = %q", got)
	}
	fi, _ := os.Stat(filepath.Join(rootfs, "ro"))
	if fi.Mode().Perm() != 0o555 {
		t.Errorf("ro mode %v, want 0555", fi.Mode())
	}
}
