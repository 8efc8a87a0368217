package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockRange: a write lock excludes every other lock on the same
// bytes, read locks share, and the messages are upstream's.
func TestLockRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img")
	must(t, os.WriteFile(path, make([]byte, 8192), 0o644))
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		must(t, err)
		t.Cleanup(func() { f.Close() })
		return f
	}
	r1, r2, w := open(), open(), open()
	must(t, lockRange(r1, 0, 4096, false))
	must(t, lockRange(r2, 0, 4096, false))
	if err := lockRange(w, 0, 0, true); err == nil || !strings.Contains(err.Error(), "can't open "+path+" for writing, currently in use by another process") {
		t.Fatalf("a write lock over read locks: %v", err)
	}
	// Other bytes of the file are another partition.
	must(t, lockRange(w, 4096, 100, true))
	r1.Close()
	r2.Close()
	w2 := open()
	must(t, lockRange(w2, 0, 4096, true))
	r3 := open()
	err := lockRange(r3, 0, 0, false)
	if err == nil || !strings.Contains(err.Error(), "can't open "+path+" for reading, currently in use for writing by another process") {
		t.Fatalf("a read lock over a write lock: %v", err)
	}
	// Control: closing the writers' files releases their locks.
	w.Close()
	w2.Close()
	if err := lockRange(r3, 0, 0, false); err != nil {
		t.Fatalf("the lock outlived its file: %v", err)
	}
}
