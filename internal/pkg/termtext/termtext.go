// Package termtext makes text that the runtime does not control safe to
// print on a terminal. A booted image chooses what systemd reports in
// STATUS=, what its console prints, the names of its units and, without a
// user namespace, even the names of host interfaces; printed raw, such
// text could clear the screen, set the window title, move the cursor or
// write a line that looks like one of the runtime's own ("INFO:    host-
// network guard: host network unchanged").
//
// Line escapes every character that is not printable, so that the text
// stays on one line and does nothing but show itself:
//
//   - "\n", "\r" and "\t" become the two characters \n, \r and \t;
//   - the other C0 controls (ESC included, which starts every CSI and OSC
//     sequence) and DEL become \xHH;
//   - a byte that is not part of valid UTF-8 becomes \xHH;
//   - every other rune that unicode.IsPrint rejects becomes \uHHHH (or
//     \UHHHHHHHH): the C1 controls U+0080 to U+009F (U+009B is CSI for
//     some terminals), the bidirectional overrides and isolates (U+202A to
//     U+202E, U+2066 to U+2069) and marks, U+2028 and U+2029, zero-width
//     and other format characters, private-use and unassigned code points,
//     and spaces other than U+0020.
//
// Tabs are escaped too: container text has no use for them, the width a
// tab takes depends on the terminal's tab stops, and escaping them keeps a
// single rule: what is printed is printable characters and U+0020 only.
//
// The backslash itself is not escaped, so the result is for reading, not
// for decoding: text that already reads "\x1b" is left as it is. In
// exchange Line and Lines are idempotent, and text escaped once (by the
// monitor, say) is not escaped again when the CLI prints it.
package termtext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// Line returns s escaped for printing as (part of) one line.
func Line(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			writeByte(&b, s[i])
			i++
			continue
		}
		writeRune(&b, r)
		i += size
	}
	return b.String()
}

// Lines returns s escaped for printing as several lines: each line of s
// (separated by "\n") is escaped by Line, and the "\n" between them are
// kept. It is for messages the runtime composes, whose lines it chose
// (such as an error that ends with the tail of a log), not for text from
// a container that is meant to stay on one line: use Line for that.
func Lines(s string) string {
	if isSafeLines(s) {
		return s
	}
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = Line(p)
	}
	return strings.Join(parts, "\n")
}

// Join escapes each item by Line and joins them with sep: a list whose
// items each stay on one line, whatever they contain.
func Join(items []string, sep string) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = Line(it)
	}
	return strings.Join(out, sep)
}

// JSON escapes, in encoded JSON, the characters that encoding/json leaves
// raw but a terminal would act on: DEL, and the runes Line escapes above
// U+007F (C1 controls, bidirectional controls, …). Each becomes a \uHHHH
// escape (a surrogate pair above U+FFFF), so the document decodes to
// exactly the same values. encoding/json already escapes the C0 controls
// in strings and replaces invalid UTF-8; outside strings JSON holds only
// ASCII, so nothing there changes. An invalid byte, should b hold one,
// becomes \ufffd.
func JSON(b []byte) []byte {
	if isSafeJSON(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			out = append(out, `\ufffd`...)
		case r == 0x7f || (r >= utf8.RuneSelf && !unicode.IsPrint(r)):
			out = appendJSONEscape(out, r)
		default:
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// isSafe reports whether Line would leave s as it is.
func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return isSafeSlow(s)
		}
	}
	return true
}

func isSafeSlow(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return false
			}
		}
		if !printable(r) {
			return false
		}
	}
	return true
}

func isSafeLines(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if !isSafe(line) {
			return false
		}
	}
	return true
}

func isSafeJSON(b []byte) bool {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if (r == utf8.RuneError && size <= 1) || r == 0x7f || (r >= utf8.RuneSelf && !unicode.IsPrint(r)) {
			return false
		}
		i += size
	}
	return true
}

// printable: unicode.IsPrint takes letters, marks, numbers, punctuation,
// symbols and U+0020, and nothing else.
func printable(r rune) bool { return unicode.IsPrint(r) }

func writeByte(b *strings.Builder, c byte) {
	b.WriteString(`\x`)
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&0xf])
}

func writeRune(b *strings.Builder, r rune) {
	switch {
	case printable(r):
		b.WriteRune(r)
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\r':
		b.WriteString(`\r`)
	case r == '\t':
		b.WriteString(`\t`)
	case r < utf8.RuneSelf:
		writeByte(b, byte(r))
	case r <= 0xffff:
		b.WriteString(`\u`)
		b.WriteString(pad(strconv.FormatUint(uint64(r), 16), 4))
	default:
		b.WriteString(`\U`)
		b.WriteString(pad(strconv.FormatUint(uint64(r), 16), 8))
	}
}

func appendJSONEscape(out []byte, r rune) []byte {
	if r > 0xffff {
		r -= 0x10000
		out = appendJSONEscape(out, 0xd800+(r>>10))
		return appendJSONEscape(out, 0xdc00+(r&0x3ff))
	}
	out = append(out, `\u`...)
	return append(out, pad(strconv.FormatUint(uint64(r), 16), 4)...)
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}
