package imageaudit

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func openTestRoot(t *testing.T, root string) *imageRoot {
	t.Helper()
	r, err := openImageRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestResolveStaysInsideTheImage(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, tree{"secret.conf": "host secret\n"})
	root := t.TempDir()
	writeTree(t, root, tree{
		"etc/real/file.conf":   "image file\n",
		"etc/abs":              "->/etc/real",
		"etc/rel":              "->../etc/real",
		"etc/climb":            "->../../../../../../../etc/real/file.conf",
		"etc/host":             "->" + filepath.Join(outside, "secret.conf"),
		"etc/hostclimb":        "->../../../../../../.." + filepath.Join(outside, "secret.conf"),
		"etc/loop1":            "->loop2",
		"etc/loop2":            "->loop1",
		"lib":                  "->usr/lib",
		"usr/lib/x/unit.conf":  "in usr/lib\n",
		"etc/dangling":         "->/nonexistent/file",
		"etc/null":             "->/dev/null",
		"etc/relnull":          "->../../dev/null",
		"etc/empty":            "",
		"etc/chain":            "->null",
		"etc/real/subdir/keep": "x",
	})
	r := openTestRoot(t, root)

	tests := []struct {
		path, want string
		content    string // what readFile gives; "" for a directory
	}{
		{"/etc/abs/file.conf", "/etc/real/file.conf", "image file\n"},
		{"/etc/rel/file.conf", "/etc/real/file.conf", "image file\n"},
		{"/etc/climb", "/etc/real/file.conf", "image file\n"},
		{"/lib/x/unit.conf", "/usr/lib/x/unit.conf", "in usr/lib\n"},
		{"/../../etc/real", "/etc/real", ""},
	}
	for _, tt := range tests {
		got, err := r.resolve(tt.path, true)
		if err != nil || got != tt.want {
			t.Errorf("resolve(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
		if tt.content == "" {
			continue // readFile of a directory is checked below
		}
		if data, err := r.readFile(tt.path); err != nil || string(data) != tt.content {
			t.Errorf("readFile(%q) = %q, %v; want %q", tt.path, data, err, tt.content)
		}
	}

	// Links at host paths are looked up inside the image, where they do not
	// exist: the host file is never read.
	for _, p := range []string{"/etc/host", "/etc/hostclimb"} {
		if data, err := r.readFile(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("readFile(%q) = %q, %v; want not-exist", p, data, err)
		}
		if st, _ := r.classify(p); st != pathBroken {
			t.Errorf("classify(%q) = %v, want broken", p, st)
		}
	}
	if _, err := r.resolve("/etc/loop1", true); !errors.Is(err, errSymlinkLoop) {
		t.Errorf("resolve(loop) error = %v, want a loop error", err)
	}

	classes := map[string]linkState{
		"/etc/real/file.conf": pathRegular,
		"/etc/abs/file.conf":  pathRegular,
		"/etc/null":           pathMasked,
		"/etc/relnull":        pathMasked,
		"/etc/chain":          pathMasked,
		"/etc/empty":          pathMasked,
		"/etc/dangling":       pathBroken,
		"/etc/loop1":          pathBroken,
		"/etc/missing":        pathMissing,
		"/etc/real":           pathOther,
	}
	for p, want := range classes {
		if got, _ := r.classify(p); got != want {
			t.Errorf("classify(%q) = %v, want %v", p, got, want)
		}
	}
	if _, err := r.readFile("/etc/real"); err == nil {
		t.Errorf("readFile of a directory succeeded")
	}
}

func TestReadFileRefusesHugeFiles(t *testing.T) {
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxConfigSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := openTestRoot(t, root)
	if _, err := r.readFile("/big"); err == nil {
		t.Fatalf("readFile of an oversized file succeeded")
	}
}

func TestMergeConfDirs(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, tree{
		"usr/lib/sysctl.d/10-a.conf": "a=1\n",
		"usr/lib/sysctl.d/20-b.conf": "b=1\n",
		"usr/lib/sysctl.d/30-c.conf": "c=1\n",
		"etc/sysctl.d/20-b.conf":     "b=2\n",
		"etc/sysctl.d/30-c.conf":     "->/dev/null",
		"etc/sysctl.d/40-d.conf":     "->/missing",
		"etc/sysctl.d/README":        "not a conf\n",
		"lib":                        "->usr/lib",
	})
	r := openTestRoot(t, root)
	files, err := r.mergeConfDirs(sysctlDirs, func(n string) bool { return hasSuffixIn(n, ".conf") })
	if err != nil {
		t.Fatal(err)
	}
	want := []confFile{
		{Name: "10-a.conf", Path: "/lib/sysctl.d/10-a.conf", State: pathRegular},
		{Name: "20-b.conf", Path: "/etc/sysctl.d/20-b.conf", State: pathRegular},
		{Name: "30-c.conf", Path: "/etc/sysctl.d/30-c.conf", State: pathMasked},
		{Name: "40-d.conf", Path: "/etc/sysctl.d/40-d.conf", State: pathBroken},
	}
	if len(files) != len(want) {
		t.Fatalf("merged %d files, want %d: %+v", len(files), len(want), files)
	}
	for i := range want {
		if files[i].Name != want[i].Name || files[i].Path != want[i].Path || files[i].State != want[i].State {
			t.Errorf("file %d = %+v, want %+v", i, files[i], want[i])
		}
	}
}
