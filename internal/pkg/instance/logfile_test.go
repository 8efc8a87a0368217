package instance

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOpenLogRefusesLinks: a symbolic or hard link planted under a log's
// name must not be written through. The positive control writes through
// each link the way the logs were opened before (O_APPEND, following
// links), and shows that it reaches the victim.
func TestOpenLogRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sym, hard := filepath.Join(dir, "sym.out"), filepath.Join(dir, "hard.out")
	if err := os.Symlink(victim, sym); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, hard); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{sym, hard} {
		if fh, err := OpenLog(path); err == nil {
			fh.Close()
			t.Errorf("OpenLog(%s) opened a link", path)
		}
		if err := WriteLog(path, []byte("x")); err == nil {
			t.Errorf("WriteLog(%s) wrote through a link", path)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("the victim changed: %q", b)
	}
	for _, path := range []string{sym, hard} {
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fh.WriteString("x")
		fh.Close()
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\nxx" {
		t.Fatalf("positive control: writing through the links gave %q", b)
	}
	// A plain log is created, appended to and replaced.
	plain := filepath.Join(dir, "plain.out")
	for range 2 {
		fh, err := OpenLog(plain)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fh.WriteString("a")
		fh.Close()
	}
	if b, _ := os.ReadFile(plain); string(b) != "aa" {
		t.Errorf("appending to a plain log gave %q", b)
	}
	if err := WriteLog(plain, []byte("b")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(plain); string(b) != "b" {
		t.Errorf("replacing a plain log gave %q", b)
	}
}
