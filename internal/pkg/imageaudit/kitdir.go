package imageaudit

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// kitReadme is the hand-written documentation of the kit directory; only
// its unit table is generated.
const kitReadme = "README.md"

// DiffKitDir compares a kit directory (etc/network-overrides in the source
// tree) with KitFiles and the README's generated table. It returns one line
// per difference; none means the directory matches the curated list.
func DiffKitDir(dir string) ([]string, error) {
	want := map[string][]byte{}
	for _, f := range KitFiles() {
		want[f.Path] = f.Content
	}
	var diffs []string
	have, err := listKitDir(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range have {
		if p == kitReadme {
			continue
		}
		if _, ok := want[p]; !ok {
			diffs = append(diffs, "unexpected file "+p)
		}
	}
	for p, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, p))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			diffs = append(diffs, "missing file "+p)
		case err != nil:
			return nil, fmt.Errorf("failed to read %q: %w", p, err)
		case !bytes.Equal(got, content):
			diffs = append(diffs, "outdated file "+p)
		}
	}
	readme, err := os.ReadFile(filepath.Join(dir, kitReadme))
	if err != nil {
		return nil, fmt.Errorf("failed to read the kit README: %w", err)
	}
	if spliced, ok := spliceReadme(readme); !ok {
		diffs = append(diffs, kitReadme+" lacks the generated-table markers")
	} else if !bytes.Equal(spliced, readme) {
		diffs = append(diffs, "outdated unit table in "+kitReadme)
	}
	sort.Strings(diffs)
	return diffs, nil
}

// SyncKitDir rewrites a kit directory from KitFiles: writes missing or
// outdated files, removes files that no longer belong (and directories left
// empty), and regenerates the README's unit table.
func SyncKitDir(dir string) error {
	want := map[string]bool{kitReadme: true}
	for _, f := range KitFiles() {
		want[f.Path] = true
		p := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("failed to create %q: %w", filepath.Dir(p), err)
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			return fmt.Errorf("failed to write %q: %w", p, err)
		}
	}
	have, err := listKitDir(dir)
	if err != nil {
		return err
	}
	for _, p := range have {
		if !want[p] {
			if err := os.Remove(filepath.Join(dir, p)); err != nil {
				return fmt.Errorf("failed to remove stale %q: %w", p, err)
			}
			removeEmptyParents(dir, filepath.Dir(filepath.Join(dir, p)))
		}
	}
	readmePath := filepath.Join(dir, kitReadme)
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return fmt.Errorf("failed to read the kit README: %w", err)
	}
	spliced, ok := spliceReadme(readme)
	if !ok {
		return fmt.Errorf("%q lacks the lines %q and %q around the unit table", readmePath, readmeBegin, readmeEnd)
	}
	if err := os.WriteFile(readmePath, spliced, 0o644); err != nil {
		return fmt.Errorf("failed to write %q: %w", readmePath, err)
	}
	return nil
}

// listKitDir returns the regular files and links under dir, relative, with
// "/" separators.
func listKitDir(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		r, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(r))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list kit directory %q: %w", dir, err)
	}
	return out, nil
}

// removeEmptyParents removes d and its parents up to (not including) top
// while they are empty.
func removeEmptyParents(top, d string) {
	for d != top && len(d) > len(top) {
		if os.Remove(d) != nil {
			return
		}
		d = filepath.Dir(d)
	}
}
