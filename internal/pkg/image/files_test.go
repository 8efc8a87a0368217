package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	tree := map[string]node{
		"/":                        {dir: true},
		"/usr":                     {dir: true},
		"/usr/sbin":                {dir: true},
		"/usr/lib":                 {dir: true},
		"/usr/lib/systemd":         {dir: true},
		"/usr/lib/systemd/systemd": {},
		"/sbin":                    {link: true, target: "usr/sbin"},
		"/usr/sbin/init":           {link: true, target: "../lib/systemd/systemd"},
		"/abs":                     {link: true, target: "/usr/lib"},
		"/escape":                  {link: true, target: "../../../usr"},
		"/loop":                    {link: true, target: "loop"},
		"/dangling":                {link: true, target: "nowhere"},
	}
	lookup := func(p string) (node, bool) { n, ok := tree[p]; return n, ok }
	cases := []struct {
		path       string
		followLast bool
		want       string
		ok         bool
	}{
		{"/sbin/init", true, "/usr/lib/systemd/systemd", true},
		{"/sbin/init", false, "/usr/sbin/init", true},
		{"sbin/init", true, "/usr/lib/systemd/systemd", true},
		{"/abs/systemd/systemd", true, "/usr/lib/systemd/systemd", true},
		{"/escape/lib", true, "/usr/lib", true},
		{"/../../usr/lib", true, "/usr/lib", true},
		{"/loop", true, "/loop", false},
		{"/dangling", false, "/dangling", true},
		{"/dangling", true, "/nowhere", false},
		{"/usr/lib/systemd/systemd/x", true, "/usr/lib/systemd/systemd", false},
		{"/nope", true, "/nope", false},
	}
	for _, c := range cases {
		got, ok := resolve(lookup, c.path, c.followLast)
		if got != c.want || ok != c.ok {
			t.Errorf("resolve(%q, %v) = %q, %v; want %q, %v", c.path, c.followLast, got, ok, c.want, c.ok)
		}
	}
}

func TestParseListing(t *testing.T) {
	in := `drwxr-xr-x 0/0                      38 2026-11-27 04:31 
lrwxrwxrwx 0/0                       8 2026-11-27 04:31 /sbin -> usr/sbin
drwxr-xr-x 0/0                      38 2026-11-27 04:31 /usr
crw-rw-rw- 0/0                  1,  3 2026-11-27 04:31 /dev/null
-rw-r--r-- 0/0                       2 2026-11-27 04:31 /a file with spaces
`
	tree, err := parseListing(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if n := tree["/sbin"]; !n.link || n.target != "usr/sbin" {
		t.Errorf("/sbin = %+v", n)
	}
	if n, ok := tree["/usr"]; !ok || !n.dir {
		t.Errorf("/usr = %+v %v", n, ok)
	}
	for _, p := range []string{"/dev/null", "/a file with spaces"} {
		if _, ok := tree[p]; !ok {
			t.Errorf("%s missing from %v", p, tree)
		}
	}
}

// TestFilesSIFAndSandbox reads the same paths from a SIF (through
// unsquashfs) and from a sandbox directory.
func TestFilesSIFAndSandbox(t *testing.T) {
	path, _ := writeTestSIF(t)
	box := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(box, "usr/lib/systemd"), 0o755))
	must(t, os.MkdirAll(filepath.Join(box, "usr/sbin"), 0o755))
	must(t, os.MkdirAll(filepath.Join(box, ".singularity.d"), 0o755))
	must(t, os.WriteFile(filepath.Join(box, "usr/lib/systemd/systemd"), []byte("init\n"), 0o755))
	must(t, os.Symlink("usr/sbin", filepath.Join(box, "sbin")))
	must(t, os.Symlink("../lib/systemd/systemd", filepath.Join(box, "usr/sbin/init")))
	must(t, os.WriteFile(filepath.Join(box, ".singularity.d/runscript"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	for _, img := range []string{path, box} {
		f, err := OpenFiles(img)
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]bool{"/sbin/init": true, "/.singularity.d/runscript": true, "/.singularity.d/startscript": false} {
			if got, err := f.Has(p); err != nil || got != want {
				t.Errorf("%s: Has(%s) = %v, %v; want %v", img, p, got, err, want)
			}
		}
		b, err := f.ReadFile("/sbin/init")
		if err != nil || string(b) != "init\n" {
			t.Errorf("%s: ReadFile(/sbin/init) = %q, %v", img, b, err)
		}
		if _, err := f.ReadFile("/nope"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: ReadFile(/nope) error %v; want not exist", img, err)
		}
	}
	if !HasFunc(path)("/sbin/init") || HasFunc(path)("/bin/nothing") {
		t.Error("HasFunc disagrees with Files.Has")
	}
}
