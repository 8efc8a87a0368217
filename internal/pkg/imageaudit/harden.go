package imageaudit

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// HardenResult says what Harden did. Paths are inside the image.
type HardenResult struct {
	Added   []string // files written now
	Present []string // kit files that were already there, unchanged
	Kept    []string // different files already at a kit path, left alone
	Extra   []string // unlisted units the audit flagged, guarded as well
}

// Harden installs the network-overrides kit into a sandbox directory: the
// drop-in of every curated unit, the udev override, and a drop-in for each
// unlisted unit the audit flags. Existing files are never overwritten. What
// is created is recorded in ManifestPath so that Undo can remove exactly
// that; running Harden again changes nothing.
func Harden(sandbox string) (*HardenResult, error) {
	if err := checkSandbox(sandbox); err != nil {
		return nil, err
	}
	a, err := newAuditor(sandbox)
	if err != nil {
		return nil, err
	}
	defer a.r.Close()
	rep, err := a.run(sandbox)
	if err != nil {
		return nil, err
	}
	files := KitFiles()
	res := &HardenResult{Extra: rep.networkUnitsToGuard()}
	for _, u := range res.Extra {
		files = append(files, dropInFile(u, ""))
	}

	m, err := readManifest(a.r)
	if err != nil {
		return nil, err
	}
	before := m.marshal()
	var installErr error
	for _, f := range files {
		if installErr = installFile(a.r, m, f, res); installErr != nil {
			break
		}
	}
	// The manifest is written even after a failure, so that Undo can still
	// remove what was added before it.
	if !m.empty() && !bytes.Equal(before, m.marshal()) {
		if err := writeManifest(a.r, m); err != nil {
			return nil, fmt.Errorf("failed to harden %q: %w", sandbox, errors.Join(installErr, err))
		}
	}
	if installErr != nil {
		return nil, fmt.Errorf("failed to harden %q: %w", sandbox, installErr)
	}
	return res, nil
}

// checkSandbox refuses anything but a writable image directory, and the
// host's own root above all.
func checkSandbox(sandbox string) error {
	if err := checkImage(sandbox); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(sandbox)
	if err != nil {
		return fmt.Errorf("failed to resolve %q: %w", sandbox, err)
	}
	if real == "/" {
		return fmt.Errorf("refusing to change %q: it is the host's root directory", sandbox)
	}
	return nil
}

// readManifest loads the image's manifest, or an empty one.
func readManifest(r *imageRoot) (*manifest, error) {
	data, err := r.root.ReadFile(rel(ManifestPath))
	if errors.Is(err, fs.ErrNotExist) {
		return newManifest(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", ManifestPath, err)
	}
	m, err := parseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", ManifestPath, err)
	}
	return m, nil
}

// writeManifest replaces the manifest atomically.
func writeManifest(r *imageRoot, m *manifest) error {
	tmp := rel(ManifestPath) + ".tmp"
	if err := writeNewFile(r, tmp, m.marshal()); err != nil {
		return err
	}
	if err := r.root.Rename(tmp, rel(ManifestPath)); err != nil {
		_ = r.root.Remove(tmp)
		return fmt.Errorf("failed to write %s: %w", ManifestPath, err)
	}
	return nil
}

// installFile writes one kit file unless something is already there.
func installFile(r *imageRoot, m *manifest, f KitFile, res *HardenResult) error {
	dir, err := ensureDir(r, m, path.Dir("/"+f.Path))
	if err != nil {
		return err
	}
	target := path.Join(dir, path.Base(f.Path))
	fi, err := r.root.Lstat(rel(target))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := writeNewFile(r, rel(target), f.Content); err != nil {
			return err
		}
		m.Files[rel(target)] = contentHash(f.Content)
		res.Added = append(res.Added, target)
		return nil
	case err != nil:
		return fmt.Errorf("failed to inspect %q: %w", target, err)
	}
	if fi.Mode().IsRegular() {
		if got, err := r.root.ReadFile(rel(target)); err == nil && bytes.Equal(got, f.Content) {
			res.Present = append(res.Present, target)
			return nil
		}
	}
	res.Kept = append(res.Kept, target)
	return nil
}

// ensureDir makes the in-image directory p exist, following existing
// symlinks inside the image, and returns its resolved path. Directories it
// creates are recorded in the manifest.
func ensureDir(r *imageRoot, m *manifest, p string) (string, error) {
	cur := "/"
	for _, c := range splitPath(p) {
		cand := path.Join(cur, c)
		fi, err := r.root.Lstat(rel(cand))
		if errors.Is(err, fs.ErrNotExist) {
			if err := r.root.Mkdir(rel(cand), 0o755); err != nil {
				return "", fmt.Errorf("failed to create %q: %w", cand, err)
			}
			if err := fixMode(r, rel(cand), 0o755); err != nil {
				return "", err
			}
			m.addDir(rel(cand))
			cur = cand
			continue
		}
		if err != nil {
			return "", fmt.Errorf("failed to inspect %q: %w", cand, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			link := cand
			if cand, err = r.resolve(cand, true); err != nil {
				return "", fmt.Errorf("cannot create files under %q: the link dangles at %q inside the image: %w", link, cand, err)
			}
			if fi, err = r.root.Lstat(rel(cand)); err != nil {
				return "", fmt.Errorf("failed to inspect %q: %w", cand, err)
			}
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("%q is not a directory", cand)
		}
		cur = cand
	}
	return cur, nil
}

// writeNewFile creates a file that must not exist yet; O_EXCL guarantees an
// existing file (or a link planted in the meantime) is never written
// through.
func writeNewFile(r *imageRoot, name string, content []byte) error {
	f, err := r.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("failed to create %q: %w", "/"+name, err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		_ = r.root.Remove(name)
		return fmt.Errorf("failed to write %q: %w", "/"+name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to write %q: %w", "/"+name, err)
	}
	return fixMode(r, name, 0o644)
}

// fixMode sets the mode the umask may have narrowed and, when running as
// root, gives the new entry the owner of its parent directory, so a
// sandbox built by a user stays editable by that user.
func fixMode(r *imageRoot, name string, mode fs.FileMode) error {
	if err := r.root.Chmod(name, mode); err != nil {
		return fmt.Errorf("failed to set the mode of %q: %w", "/"+name, err)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	parent := path.Dir(name)
	fi, err := r.root.Lstat(parent)
	if err != nil {
		return fmt.Errorf("failed to inspect %q: %w", "/"+parent, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := r.root.Lchown(name, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("failed to set the owner of %q: %w", "/"+name, err)
		}
	}
	return nil
}

// UndoResult says what Undo removed. Paths are inside the image.
type UndoResult struct {
	Removed  []string // files and directories removed
	KeptDirs []string // directories Harden created that now hold other files
	Nothing  bool     // the image had no manifest: nothing to undo
}

// Undo removes what Harden recorded in the image's manifest, and the
// manifest. It first checks every recorded file: if one was changed since,
// it removes nothing and says which.
func Undo(sandbox string) (*UndoResult, error) {
	if err := checkSandbox(sandbox); err != nil {
		return nil, err
	}
	r, err := openImageRoot(sandbox)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if _, err := r.root.Lstat(rel(ManifestPath)); errors.Is(err, fs.ErrNotExist) {
		return &UndoResult{Nothing: true}, nil
	}
	m, err := readManifest(r)
	if err != nil {
		return nil, err
	}
	var changed []string
	for p, hash := range m.Files {
		data, err := r.root.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil || contentHash(data) != hash {
			changed = append(changed, "/"+p)
		}
	}
	if len(changed) > 0 {
		return nil, fmt.Errorf("refusing to undo: %s changed after `hostnet harden`; restore or remove by hand", strings.Join(changed, ", "))
	}
	return removeRecorded(r, m)
}

// removeRecorded deletes the recorded files, the manifest, then the
// recorded directories deepest first.
func removeRecorded(r *imageRoot, m *manifest) (*UndoResult, error) {
	res := &UndoResult{}
	files := make([]string, 0, len(m.Files))
	for p := range m.Files {
		files = append(files, p)
	}
	for _, p := range append(sortedCopy(files), rel(ManifestPath)) {
		err := r.root.Remove(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("failed to remove %q: %w", "/"+p, err)
		}
		if err == nil {
			res.Removed = append(res.Removed, "/"+p)
		}
	}
	dirs := sortedCopy(m.Dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		err := r.root.Remove(dirs[i])
		switch {
		case err == nil:
			res.Removed = append(res.Removed, "/"+dirs[i])
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST):
			res.KeptDirs = append(res.KeptDirs, "/"+dirs[i])
		default:
			return res, fmt.Errorf("failed to remove %q: %w", "/"+dirs[i], err)
		}
	}
	return res, nil
}
