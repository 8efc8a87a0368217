package imageaudit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ManifestPath is where Harden records what it added, inside the image, so
// that Undo can take exactly that away again.
const ManifestPath = "/etc/apptainer-hostnet-overrides.manifest"

// manifestHeader is the first line of a manifest; the version lets a later
// format be told apart.
const manifestHeader = "# apptainer hostnet harden manifest v1"

// manifest lists the directories and files Harden created. Paths are
// relative to the image root and already resolved inside it (no symlinks).
type manifest struct {
	Dirs  []string
	Files map[string]string // path -> sha256 of the content written
}

func newManifest() *manifest { return &manifest{Files: map[string]string{}} }

// contentHash is how a manifest identifies file content.
func contentHash(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// addDir records a created directory once.
func (m *manifest) addDir(p string) {
	for _, d := range m.Dirs {
		if d == p {
			return
		}
	}
	m.Dirs = append(m.Dirs, p)
}

// empty reports whether nothing is recorded.
func (m *manifest) empty() bool { return len(m.Dirs) == 0 && len(m.Files) == 0 }

// marshal writes the manifest in a stable order: directories sorted (a
// parent sorts before its children), then files sorted. The same content
// always gives the same bytes, which keeps Harden idempotent.
func (m *manifest) marshal() []byte {
	var b bytes.Buffer
	b.WriteString(manifestHeader + "\n")
	b.WriteString("# Written by `apptainer hostnet harden`; `apptainer hostnet harden --undo`\n")
	b.WriteString("# removes exactly the files and directories listed here. Do not edit.\n")
	dirs := append([]string(nil), m.Dirs...)
	sort.Strings(dirs)
	for _, d := range dirs {
		fmt.Fprintf(&b, "dir %s\n", strconv.Quote(d))
	}
	files := make([]string, 0, len(m.Files))
	for f := range m.Files {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		fmt.Fprintf(&b, "file %s %s\n", strconv.Quote(f), m.Files[f])
	}
	return b.Bytes()
}

// parseManifest reads a manifest written by marshal. Paths must stay
// relative and free of "..": a manifest is read from the image, which its
// owner may have edited, and Undo removes what it lists.
func parseManifest(data []byte) (*manifest, error) {
	m := newManifest()
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			if text != manifestHeader {
				return nil, fmt.Errorf("unknown manifest format (first line %q)", text)
			}
			continue
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(text, " ")
		quoted, hash, err := cutQuoted(rest)
		if err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", line, err)
		}
		if !safeRelPath(quoted) {
			return nil, fmt.Errorf("manifest line %d: path %q is not a plain relative path", line, quoted)
		}
		switch {
		case kind == "dir" && hash == "":
			m.addDir(quoted)
		case kind == "file" && strings.HasPrefix(hash, "sha256:"):
			m.Files[quoted] = hash
		default:
			return nil, fmt.Errorf("manifest line %d: cannot parse %q", line, text)
		}
	}
	if line == 0 {
		return nil, fmt.Errorf("manifest is empty")
	}
	return m, nil
}

// cutQuoted splits a Go-quoted string off the front of s.
func cutQuoted(s string) (string, string, error) {
	prefix, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", fmt.Errorf("expected a quoted path in %q", s)
	}
	p, err := strconv.Unquote(prefix)
	if err != nil {
		return "", "", err
	}
	return p, strings.TrimSpace(s[len(prefix):]), nil
}

// safeRelPath accepts "a/b/c" and nothing that could leave the image root
// or name the root itself.
func safeRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}
