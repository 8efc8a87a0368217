package apptainerconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

func mustParse(t *testing.T, in string) (*File, []Warning) {
	t.Helper()
	f, warnings, err := Parse(strings.NewReader(in), "test.conf")
	if err != nil {
		t.Fatalf("Parse(%q): %v", in, err)
	}
	return f, warnings
}

func TestParseSyntax(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		field func(*File) any
		want  any
	}{
		{"empty file", "", func(f *File) any { return f }, Default()},
		{"only comments and blanks", "# allow setuid = no\n   \n\t# mount dev = no\n", func(f *File) any { return f }, Default()},
		{"indented comment", "    # allow setuid = no\n", func(f *File) any { return f.AllowSetuid }, true},
		{"no blanks around =", "allow setuid=no\n", func(f *File) any { return f.AllowSetuid }, false},
		{"key case and inner blanks", "  Allow \t  SETUID   =   No  \n", func(f *File) any { return f.AllowSetuid }, false},
		{"CRLF line ends", "mount dev = minimal\r\nboot timeout = 5\r\n", func(f *File) any { return []any{f.MountDev, f.BootTimeout} }, []any{"minimal", 5}},
		{"no final newline", "boot timeout = 7", func(f *File) any { return f.BootTimeout }, 7},
		{"later # is part of the value", "mksquashfs mem = 1G # half", func(f *File) any { return f.MksquashfsMem }, "1G # half"},
		{"later = is part of the value", "binary path = /opt/a=b:/bin", func(f *File) any { return f.BinaryPath }, "/opt/a=b:/bin"},
		{"empty text value", "binary path =", func(f *File) any { return f.BinaryPath }, ""},
		{"enum stored in lower case", "boot hostnet guard = FAIL", func(f *File) any { return f.BootHostnetGuard }, string(config.GuardFail)},
		{"number with plus sign", "boot timeout = +30", func(f *File) any { return f.BootTimeout }, 30},
		{"list blanks and empty entries", "allow net users = , alice ,, bob,", func(f *File) any { return f.AllowNetUsers }, []string{"alice", "bob"}},
		{"upstream's other apptheus spelling", "apptheus communication socket path = /run/x.sock", func(f *File) any { return f.ApptheusSocketPath }, "/run/x.sock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, warnings := mustParse(t, tc.in)
			if len(warnings) != 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if got := tc.field(f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the whole error message
	}{
		{"line without =", "allow setuid = yes\nallow setuid no\n", `x.conf:2: expected "directive = value", got "allow setuid no"`},
		{"no directive name", "\n\n = yes\n", `x.conf:3: missing directive name before "="`},
		{"bad list entry named", "bind path = /opt, scratch\n", `x.conf:1: bad value "scratch" for "bind path": want an absolute path, or source:destination with absolute paths`},
		{"relative bind destination", "bind path = /opt:opt\n", `x.conf:1: bad value "/opt:opt" for "bind path": want an absolute path, or source:destination with absolute paths`},
		{"number out of range", "boot timeout = 86401\n", `x.conf:1: bad value "86401" for "boot timeout": want a whole number from 1 to 86400`},
		{"enum choices listed", "mount dev = some\n", `x.conf:1: bad value "some" for "mount dev": want yes, no or minimal`},
		{"mask unit without type", "boot hostnet mask units = foo\n", `x.conf:1: bad value "foo" for "boot hostnet mask units": want systemd unit names such as foo.service`},
		{"mask unit with =", "boot hostnet mask units = a=b.service\n", `x.conf:1: bad value "a=b.service" for "boot hostnet mask units": want systemd unit names such as foo.service`},
		{"value too long", "mksquashfs mem = " + strings.Repeat("x", maxValue+1) + "\n", `x.conf:1: value of "mksquashfs mem" longer than 262144 bytes`},
		{"line too long", "allow setuid = yes\n" + strings.Repeat("#", maxLine+1) + "\n", `x.conf:2: line longer than 1048576 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _, err := Parse(strings.NewReader(tc.in), "x.conf")
			if err == nil {
				t.Fatalf("accepted, gave %+v", f)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("%T is not a *ParseError", err)
			}
		})
	}
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	f, _, err := Parse(iotest.OneByteReader(strings.NewReader("allow setuid = no\n")), "x.conf")
	if err != nil || f.AllowSetuid {
		t.Fatalf("one-byte reads: got %v, %v", f, err)
	}
	_, _, err = Parse(iotest.ErrReader(boom), "x.conf")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `"x.conf"`) {
		t.Fatalf("got %v, want an error naming x.conf and wrapping %v", err, boom)
	}
}

func TestUnknownDirectiveWarning(t *testing.T) {
	in := "allow setuid = yes\n# comment\nFrobnicate  Widgets = 3\nmount dev = minimal\n"
	f, warnings := mustParse(t, in)
	want := []Warning{{File: "test.conf", Line: 3, Msg: `unknown directive "frobnicate widgets" ignored`}}
	if !reflect.DeepEqual(warnings, want) {
		t.Fatalf("got %#v, want %#v", warnings, want)
	}
	if got := warnings[0].String(); got != `test.conf:3: unknown directive "frobnicate widgets" ignored` {
		t.Errorf("String() = %q", got)
	}
	if f.MountDev != MountDevMinimal {
		t.Errorf("lines after the unknown directive were not read: mount dev = %q", f.MountDev)
	}
}

func TestRepeatedDirectives(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		field    func(*File) any
		want     any
		warnings []Warning
	}{
		{
			name:  "single value: last wins with a warning",
			in:    "allow setuid = no\nmount dev = no\nallow setuid = yes\n",
			field: func(f *File) any { return f.AllowSetuid }, want: true,
			warnings: []Warning{{"test.conf", 3, `"allow setuid" was already set on line 1; the value on this line is used`}},
		},
		{
			name:  "alias counts as the same directive",
			in:    "apptheus socket path = /a\napptheus communication socket path = /b\n",
			field: func(f *File) any { return f.ApptheusSocketPath }, want: "/b",
			warnings: []Warning{{"test.conf", 2, `"apptheus socket path" was already set on line 1; the value on this line is used`}},
		},
		{
			name:  "list: first occurrence replaces the default",
			in:    "bind path = /opt\n",
			field: func(f *File) any { return f.BindPath }, want: []string{"/opt"},
		},
		{
			name:  "list: later occurrences append",
			in:    "bind path = /opt\nmount dev = yes\nbind path = /a, /b\nbind path = /etc/hosts\n",
			field: func(f *File) any { return f.BindPath }, want: []string{"/opt", "/a", "/b", "/etc/hosts"},
		},
		{
			name:  "list: empty first occurrence clears the default",
			in:    "bind path =\n",
			field: func(f *File) any { return f.BindPath }, want: []string(nil),
		},
		{
			name:  "list: empty later occurrence keeps what came before",
			in:    "bind path = /opt\nbind path =\n",
			field: func(f *File) any { return f.BindPath }, want: []string{"/opt"},
		},
		{
			name:  "list: cleared then appended",
			in:    "bind path =\nbind path = /x\n",
			field: func(f *File) any { return f.BindPath }, want: []string{"/x"},
		},
		{
			name:  "list with empty default",
			in:    "boot hostnet mask units = a.service\nboot hostnet mask units = b.socket\n",
			field: func(f *File) any { return f.BootHostnetMaskUnits }, want: []string{"a.service", "b.socket"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, warnings := mustParse(t, tc.in)
			if got := tc.field(f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			if !reflect.DeepEqual(warnings, tc.warnings) {
				t.Errorf("warnings %#v, want %#v", warnings, tc.warnings)
			}
		})
	}
}

// TestDefaultIsFresh checks callers cannot change each other's defaults
// through shared slices.
func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.BindPath[0] = "/changed"
	if Default().BindPath[0] != "/etc/localtime" {
		t.Fatal("Default() shares its BindPath slice between calls")
	}
}
