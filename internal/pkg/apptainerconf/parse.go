package apptainerconf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxLine bounds one line of the file and maxValue one value. Real lines are
// short; the bounds only keep a corrupt or hostile file from being read into
// memory whole. maxValue is well under maxLine so that any value Parse
// accepts still fits on one line when WriteTo writes it back.
const (
	maxLine  = 1 << 20
	maxValue = 1 << 18
)

// Warning is something in the file that was ignored or overridden but does
// not stop the file from being used, such as an unknown directive.
type Warning struct {
	File string
	Line int
	Msg  string
}

// String renders the warning as "file:line: msg", the form editors jump to.
func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg) }

// ParseError is a line that makes the file unusable: a line that is not
// "directive = value", or a value its directive does not accept.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Parse reads apptainer.conf text from r, starting from Default(). name is
// the file name used in warnings and errors. Keys are matched without regard
// to case or to how many blanks separate their words; a line whose first
// non-blank character is '#' is a comment (a '#' later on a line is part of
// the value, since paths may contain one).
//
// Unknown directives and repeated single-value directives are returned as
// warnings. A malformed line or an unacceptable value is a *ParseError; the
// warnings gathered before it are returned with it.
func Parse(r io.Reader, name string) (*File, []Warning, error) {
	f := Default()
	var warnings []Warning
	firstLine := make(map[string]int) // directive name -> line of first occurrence

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, warnings, &ParseError{name, lineNo, fmt.Sprintf("expected \"directive = value\", got %q", line)}
		}
		key = normaliseKey(key)
		value = strings.TrimSpace(value)
		if key == "" {
			return nil, warnings, &ParseError{name, lineNo, "missing directive name before \"=\""}
		}
		if len(value) > maxValue {
			return nil, warnings, &ParseError{name, lineNo, fmt.Sprintf("value of %q longer than %d bytes", key, maxValue)}
		}
		d, known := byName[key]
		if !known {
			warnings = append(warnings, Warning{name, lineNo, fmt.Sprintf("unknown directive %q ignored", key)})
			continue
		}
		first, seen := firstLine[d.name]
		if !seen {
			firstLine[d.name] = lineNo
		} else if !d.list {
			warnings = append(warnings, Warning{name, lineNo,
				fmt.Sprintf("%q was already set on line %d; the value on this line is used", d.name, first)})
		}
		if err := d.assign(f, value, !seen); err != nil {
			bad := value
			var bv *badValue
			if errors.As(err, &bv) && bv.entry != "" {
				bad = bv.entry
			}
			return nil, warnings, &ParseError{name, lineNo, fmt.Sprintf("bad value %q for %q: %v", bad, d.name, err)}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, warnings, &ParseError{name, lineNo + 1, fmt.Sprintf("line longer than %d bytes", maxLine)}
		}
		return nil, warnings, fmt.Errorf("failed to read %q: %w", name, err)
	}
	return f, warnings, nil
}

// normaliseKey lower-cases a directive name and reduces every run of blanks
// inside it to one space, so "Allow  Setuid" and "allow setuid" are equal.
func normaliseKey(key string) string {
	return strings.ToLower(strings.Join(strings.Fields(key), " "))
}
