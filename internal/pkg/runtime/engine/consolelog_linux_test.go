package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleLogRotates: a console that writes without end leaves at most
// the log and one rotated log of about max bytes each.
func TestConsoleLogRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.out")
	if err := os.WriteFile(path, []byte("an earlier instance's log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const max = 64 << 10
	l := newConsoleLog(path, max)
	line := []byte(strings.Repeat("x", 999) + "\n")
	for range 1000 { // about 1 MB, sixteen times max
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > max || fi.Size() == 0 {
			t.Errorf("%s holds %d bytes, want 1 to %d", p, fi.Size(), max)
		}
	}
	if left, _ := filepath.Glob(path + ".*"); len(left) != 1 {
		t.Errorf("rotated logs: %v, want just %s.1", left, path)
	}
	// Positive control: without a bound the same writes all stay.
	unbounded := filepath.Join(t.TempDir(), "other.out")
	u := newConsoleLog(unbounded, 0)
	for range 1000 {
		_, _ = u.Write(line)
	}
	if fi, err := os.Stat(unbounded); err != nil || fi.Size() != 1000*int64(len(line)) {
		t.Errorf("unbounded log: %v, %v", fi.Size(), err)
	}
}
