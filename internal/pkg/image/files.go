package image

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// maxSymlinks bounds symlink hops while resolving a path, as the kernel's
// MAXSYMLINKS does.
const maxSymlinks = 40

// node is one entry of an image's file tree.
type node struct {
	dir    bool
	link   bool
	target string
}

// lookupFunc returns the entry at an absolute, clean, symlink-free path.
type lookupFunc func(p string) (node, bool)

// resolve follows symlinks in p the way the kernel would inside a chroot
// at the image root: absolute targets restart at the image root and ".."
// never leaves it. followLast says whether a final symlink is followed.
// It returns the resolved path and whether it exists.
func resolve(lookup lookupFunc, p string, followLast bool) (string, bool) {
	todo := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		n, ok := lookup(next)
		if !ok {
			return next, false
		}
		if n.link && (len(todo) > 0 || followLast) {
			if hops++; hops > maxSymlinks {
				return next, false
			}
			rest := strings.Split(strings.Trim(n.target, "/"), "/")
			todo = append(rest, todo...)
			if strings.HasPrefix(n.target, "/") {
				cur = "/"
			}
			continue
		}
		if len(todo) > 0 && !n.dir {
			return next, false
		}
		cur = next
	}
	return cur, true
}

// sandboxLookup reads entries of a sandbox directory.
func sandboxLookup(root string) lookupFunc {
	return func(p string) (node, bool) {
		fi, err := os.Lstat(root + p)
		if err != nil {
			return node{}, false
		}
		n := node{dir: fi.IsDir(), link: fi.Mode()&os.ModeSymlink != 0}
		if n.link {
			n.target, _ = os.Readlink(root + p)
		}
		return n, true
	}
}

// listingLine matches one line of `unsquashfs -lln`: mode, owner, size (or
// major,minor), date, time, then the path and, for a symlink, " -> target".
var listingLine = regexp.MustCompile(`^([-dlcbps])\S{9} \S+\s+[0-9, ]+ \d{4}-\d\d-\d\d \d\d:\d\d (.*)$`)

// parseListing turns an `unsquashfs -lln -d ""` listing into a tree.
func parseListing(r io.Reader) (map[string]node, error) {
	tree := map[string]node{"/": {dir: true}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := listingLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n := node{dir: m[1] == "d", link: m[1] == "l"}
		name := m[2]
		if n.link {
			var ok bool
			if name, n.target, ok = strings.Cut(name, " -> "); !ok {
				return nil, fmt.Errorf("bad symlink line in squashfs listing: %q", sc.Text())
			}
		}
		if name == "" {
			continue
		}
		tree[path.Clean("/"+name)] = n
	}
	return tree, sc.Err()
}

// squashfsTree lists the primary partition of a SIF.
func squashfsTree(image string, p Partition) (map[string]node, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command("unsquashfs", "-o", strconv.FormatInt(p.Offset, 10), "-lln", "-no-progress", "-d", "", image)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("failed to list %s: %w: %s", image, err, strings.TrimSpace(errb.String()))
	}
	return parseListing(&out)
}

// Files reads paths of an image, a sandbox or a SIF, without mounting it.
type Files struct {
	image  string
	kind   Kind
	part   Partition
	once   sync.Once
	tree   map[string]node
	treeEr error
}

// OpenFiles prepares to read paths inside image.
func OpenFiles(image string) (*Files, error) {
	kind, err := Detect(image)
	if err != nil {
		return nil, err
	}
	f := &Files{image: image, kind: kind}
	if kind == KindSIF {
		s, err := ReadSIF(image)
		if err != nil {
			return nil, err
		}
		f.part = s.Primary
	}
	return f, nil
}

func (f *Files) lookup() (lookupFunc, error) {
	if f.kind == KindSandbox {
		return sandboxLookup(f.image), nil
	}
	f.once.Do(func() { f.tree, f.treeEr = squashfsTree(f.image, f.part) })
	if f.treeEr != nil {
		return nil, f.treeEr
	}
	return func(p string) (node, bool) { n, ok := f.tree[p]; return n, ok }, nil
}

// Has reports whether p exists in the image (a final symlink counts even
// if it dangles, as with lstat).
func (f *Files) Has(p string) (bool, error) {
	lookup, err := f.lookup()
	if err != nil {
		return false, err
	}
	_, ok := resolve(lookup, p, false)
	return ok, nil
}

// ReadFile returns the content of p, following symlinks inside the image.
func (f *Files) ReadFile(p string) ([]byte, error) {
	lookup, err := f.lookup()
	if err != nil {
		return nil, err
	}
	real, ok := resolve(lookup, p, true)
	if !ok {
		return nil, fmt.Errorf("failed to read %s from %s: %w", p, f.image, os.ErrNotExist)
	}
	if n, _ := lookup(real); n.dir {
		return nil, fmt.Errorf("failed to read %s from %s: is a directory", p, f.image)
	}
	if f.kind == KindSandbox {
		return os.ReadFile(f.image + real)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command("unsquashfs", "-o", strconv.FormatInt(f.part.Offset, 10), "-cat", "-no-progress", f.image, strings.TrimPrefix(real, "/"))
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("failed to read %s from %s: %w: %s", p, f.image, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// HasFunc returns a predicate for launcher.Host.ImageHas. A path that
// cannot be checked counts as missing; the error surfaces again when the
// container starts.
func HasFunc(image string) func(string) bool {
	f, err := OpenFiles(image)
	if err != nil {
		return func(string) bool { return false }
	}
	return func(p string) bool {
		ok, err := f.Has(p)
		return err == nil && ok
	}
}

// ReadDir returns the names in directory p of the image, sorted,
// following symlinks inside the image.
func (f *Files) ReadDir(p string) ([]string, error) {
	lookup, err := f.lookup()
	if err != nil {
		return nil, err
	}
	real, ok := resolve(lookup, p, true)
	if n, _ := lookup(real); !ok || !n.dir {
		return nil, fmt.Errorf("failed to list %s in %s: %w", p, f.image, os.ErrNotExist)
	}
	var names []string
	if f.kind == KindSandbox {
		entries, err := os.ReadDir(f.image + real)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names, nil
	}
	prefix := strings.TrimSuffix(real, "/") + "/"
	for k := range f.tree {
		if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" && !strings.Contains(rest, "/") {
			names = append(names, rest)
		}
	}
	sort.Strings(names)
	return names, nil
}
