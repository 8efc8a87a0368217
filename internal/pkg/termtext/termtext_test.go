package termtext

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain ASCII is kept", "Reached target multi-user.target (1.2s) [ok] a\\b", "Reached target multi-user.target (1.2s) [ok] a\\b"},
		{"printable Unicode is kept", "Démarrage de «réseau» — 起動 ✓ 🚀", "Démarrage de «réseau» — 起動 ✓ 🚀"},
		{"clear screen (CSI)", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"window title (OSC, BEL)", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"OSC ended by ST", "\x1b]8;;http://evil\x1b\\link", `\x1b]8;;http://evil\x1b\link`},
		{"cursor movement", "\x1b[1A\x1b[2K", `\x1b[1A\x1b[2K`},
		{"carriage return cannot overwrite the line", "booting\rINFO:    host-network guard: host network unchanged", `booting\rINFO:    host-network guard: host network unchanged`},
		{"newline cannot start a line", "x\nINFO:    instance started successfully", `x\nINFO:    instance started successfully`},
		{"tab", "a\tb", `a\tb`},
		{"other C0 controls", "\x00\x01\x08\x0b\x0c\x1f", `\x00\x01\x08\x0b\x0c\x1f`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 controls as UTF-8 (U+009B is CSI)", "\u009b2J\u0085\u0080", `\u009b2J\u0085\u0080`},
		{"C1 control as a raw byte is invalid UTF-8", "\x9b2J", `\x9b2J`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"overlong encoding", "\xc0\xaf", `\xc0\xaf`},
		{"encoded surrogate", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"right-to-left override", "evil\u202etxt.exe", `evil\u202etxt.exe`},
		{"bidi embeddings, isolates and marks", "\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c", `\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c`},
		{"line and paragraph separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"zero-width and BOM", "a\u200bb\ufeffc", `a\u200bb\ufeffc`},
		{"tag characters (invisible text)", "ok\U000E0041\U000E007F", `ok\U000e0041\U000e007f`},
		{"private use", "\ue000", `\ue000`},
		{"non-ASCII space", "a\u00a0b", `a\u00a0b`},
		{"the replacement character itself is printable", "\ufffd", "\ufffd"},
		{"everything at once", "\x1b]0;t\x07\x1b[2J\r\nWARNING: x\u202e\xff", `\x1b]0;t\x07\x1b[2J\r\nWARNING: x\u202e\xff`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Line(tt.in)
			if got != tt.want {
				t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
			}
			assertInert(t, got, false)
			if again := Line(got); again != got {
				t.Errorf("Line is not idempotent: %q, then %q", got, again)
			}
		})
	}
}

// assertInert fails unless s holds only printable characters and spaces
// (and "\n" where newlines are allowed).
func assertInert(t *testing.T, s string, newlines bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r == '\n' && newlines {
			continue
		}
		if !printable(r) {
			t.Errorf("%q still holds %U", s, r)
		}
	}
}

func TestLines(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"one line", "abc", "abc"},
		{"lines are kept", "failed:\nline 1\nline 2", "failed:\nline 1\nline 2"},
		{"each line escaped", "tail:\n\x1b[31mred\x1b[0m\r\n\x1b]0;x\x07", "tail:\n\\x1b[31mred\\x1b[0m\\r\n\\x1b]0;x\\x07"},
		{"trailing newline", "a\n", "a\n"},
		{"a line escaped once is not escaped again", Line("x\ny"), `x\ny`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Lines(tt.in)
			if got != tt.want {
				t.Errorf("Lines(%q) = %q, want %q", tt.in, got, tt.want)
			}
			assertInert(t, got, true)
		})
	}
}

func TestJoin(t *testing.T) {
	got := Join([]string{"a.service", "b\n.service", "\x1b[2Jc.service"}, ", ")
	if want := `a.service, b\n.service, \x1b[2Jc.service`; got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
	if Join(nil, ", ") != "" {
		t.Error("Join(nil) is not empty")
	}
}

func TestJSON(t *testing.T) {
	values := []string{
		"plain",
		"\x1b[2J\r\n\t",
		"del\x7f",
		"c1\u009b\u0085",
		"bidi\u202eevil\u2066",
		"tag\U000E0041",
		"nbsp\u00a0",
		"kept: é 起 🚀",
		"invalid\xff",
	}
	doc := map[string]any{"values": values, "n": 1}
	raw, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	got := JSON(raw)
	// The same document, value for value (invalid UTF-8 was already
	// U+FFFD after encoding/json).
	var before, after map[string]any
	if err := json.Unmarshal(raw, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &after); err != nil {
		t.Fatalf("escaped JSON does not decode: %v\n%s", err, got)
	}
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if string(b1) != string(b2) {
		t.Errorf("decoded values differ:\n%s\n%s", b1, b2)
	}
	// Nothing a terminal acts on is left; the indentation is.
	for _, r := range string(got) {
		if r != '\n' && r != '\t' && !printable(r) {
			t.Errorf("escaped JSON still holds %U:\n%s", r, got)
		}
	}
	for _, want := range []string{`del\u007f`, `c1\u009b\u0085`, `bidi\u202eevil\u2066`, `tag\udb40\udc41`, `nbsp\u00a0`, "kept: é 起 🚀", "\n\t\"n\": 1"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("escaped JSON lacks %q:\n%s", want, got)
		}
	}
	if plain := []byte(`{"a":"é"}`); string(JSON(plain)) != string(plain) {
		t.Errorf("JSON changed a safe document: %s", JSON(plain))
	}
	if got := string(JSON([]byte("\"\xff\""))); got != `"\ufffd"` {
		t.Errorf("JSON of an invalid byte = %q", got)
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{"", "a", "\x1b[2J", "\u202e", "\xff\xfe", "a\nb\r\tc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s)
		assertInert(t, got, false)
		if Line(got) != got {
			t.Errorf("not idempotent: %q", s)
		}
		lines := Lines(s)
		assertInert(t, lines, true)
		if strings.Count(lines, "\n") != strings.Count(s, "\n") {
			t.Errorf("Lines(%q) changed the number of lines: %q", s, lines)
		}
	})
}
