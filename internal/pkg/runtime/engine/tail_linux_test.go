package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

func TestTailFileEscapesConsoleLines(t *testing.T) {
	log := filepath.Join(t.TempDir(), "n1.out")
	// What a console log holds: lines ending in "\r\n" (the pty's output
	// processing), systemd's colours, and what a hostile image prints.
	content := "[  \x1b[0;32mOK  \x1b[0m] Started a.service.\r\n" +
		"old line\r\n" +
		"\x1b]0;pwned\x07\x1b[2J\rINFO:    host-network guard: host network unchanged\r\n" +
		"evil\u202etxt \x9b2J\r\n"
	if err := os.WriteFile(log, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got := tailFile(log, 3)
	want := strings.Join([]string{
		"  old line",
		`  \x1b]0;pwned\x07\x1b[2J\rINFO:    host-network guard: host network unchanged`,
		`  evil\u202etxt \x9b2J`,
	}, "\n")
	if got != want {
		t.Errorf("tailFile =\n%q\nwant\n%q", got, want)
	}
	for _, line := range strings.Split(got, "\n") {
		if !strings.HasPrefix(line, "  ") {
			t.Errorf("line %q is not indented", line)
		}
		for _, r := range line {
			if !unicode.IsPrint(r) {
				t.Errorf("line %q holds %U", line, r)
			}
		}
	}
	if got := tailFile(log, 10); !strings.HasPrefix(got, "  [  OK  ] Started a.service.\n") {
		t.Errorf("colours are not dropped:\n%q", got)
	}
	if got := tailFile(filepath.Join(t.TempDir(), "missing"), 3); got != "" {
		t.Errorf("tail of a missing file = %q", got)
	}
	// An empty log has no tail (callers then leave the header out); an
	// empty line stays empty, without trailing blanks.
	empty := filepath.Join(t.TempDir(), "empty.err")
	if err := os.WriteFile(empty, []byte("\r\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := tailFile(empty, 3); got != "" {
		t.Errorf("tail of an empty log = %q", got)
	}
	gap := filepath.Join(t.TempDir(), "gap.out")
	if err := os.WriteFile(gap, []byte("a\r\n\r\nb\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := tailFile(gap, 3), "  a\n\n  b"; got != want {
		t.Errorf("tail with an empty line = %q, want %q", got, want)
	}
}
