package imageaudit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tree describes a synthetic image: path -> content. A value starting with
// "->" makes a symlink to the rest; a path ending in "/" makes a directory.
type tree map[string]string

// writeTree creates the tree under root.
func writeTree(t *testing.T, root string, tr tree) {
	t.Helper()
	paths := make([]string, 0, len(tr))
	for p := range tr {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		v := tr[p]
		if target, ok := strings.CutPrefix(v, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newImage makes a temporary image holding a minimal root plus tr.
func newImage(t *testing.T, tr tree) string {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, tree{"etc/": "", "usr/lib/": "", "etc/machine-id": "0123456789abcdef0123456789abcdef\n"})
	writeTree(t, root, tr)
	return root
}

// svc is a unit file body that does nothing special.
func svc(extra string) string {
	return "[Unit]\nDescription=test\n" + extra + "\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
}

// snapshot lists every entry under root with its type, mode, link target
// and content hash, so two trees can be compared exactly.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v", fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc += " " + hex.EncodeToString(sum[:])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffSnapshots describes how b differs from a.
func diffSnapshots(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "removed "+k)
		} else if v != w {
			d = append(d, fmt.Sprintf("changed %s: %s => %s", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "added "+k)
		}
	}
	sort.Strings(d)
	return d
}

// findingFor returns the finding about subject, if any.
func findingFor(rep *Report, subject string) (Finding, bool) {
	for _, f := range rep.Findings {
		if f.Subject == subject {
			return f, true
		}
	}
	return Finding{}, false
}

// mustAudit audits root and fails the test on error.
func mustAudit(t *testing.T, root string) *Report {
	t.Helper()
	rep, err := Audit(root)
	if err != nil {
		t.Fatalf("Audit(%s): %v", root, err)
	}
	return rep
}

// subjects lists the findings' subjects, for failure messages.
func subjects(rep *Report) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, fmt.Sprintf("%s:%s:%s", f.Severity, f.Kind, f.Subject))
	}
	return out
}
