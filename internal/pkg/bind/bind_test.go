package bind

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		value string
		cwd   string
		want  []Spec
	}{
		{"empty value", "", "/work", nil},
		{"only commas and blanks", " , ,", "/work", nil},
		{"source only", "/data", "/work", []Spec{{"/data", "/data", false}}},
		{"source and destination", "/data:/mnt", "/work", []Spec{{"/data", "/mnt", false}}},
		{"read-only", "/data:/mnt:ro", "/work", []Spec{{"/data", "/mnt", true}}},
		{"read-write", "/data:/mnt:rw", "/work", []Spec{{"/data", "/mnt", false}}},
		{"relative source", "data", "/work", []Spec{{"/work/data", "/work/data", false}}},
		{"relative source with dot segments", "./a/../b:/b", "/work/x", []Spec{{"/work/x/b", "/b", false}}},
		{"cleaned paths", "//data/./x/:/mnt//y/../z/", "/work", []Spec{{"/data/x", "/mnt/z", false}}},
		{"host root at another place", "/:/host:ro", "/work", []Spec{{"/", "/host", true}}},
		{"several specs", "/a, /b:/c:ro ,rel:/d", "/w", []Spec{{"/a", "/a", false}, {"/b", "/c", true}, {"/w/rel", "/d", false}}},
		{"trailing comma", "/a,", "/w", []Spec{{"/a", "/a", false}}},
		{"no cwd needed for absolute", "/a", "", []Spec{{"/a", "/a", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.value, tt.cwd)
			if err != nil {
				t.Fatalf("Parse(%q, %q) failed: %v", tt.value, tt.cwd, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q, %q) = %+v, want %+v", tt.value, tt.cwd, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		value   string
		cwd     string
		wantErr string
	}{
		{"a:b:c:d", "/w", `invalid bind spec "a:b:c:d": too many fields`},
		{"/a:/b:ro:x", "/w", `invalid bind spec "/a:/b:ro:x": too many fields`},
		{"/src:/dst:xx", "/w", `bind option "xx" in "/src:/dst:xx" is not supported (want ro or rw)`},
		{"/src:/dst:RO", "/w", `bind option "RO" in "/src:/dst:RO" is not supported (want ro or rw)`},
		{"/src:/dst:", "/w", `bind option "" in "/src:/dst:" is not supported (want ro or rw)`},
		{":/dst", "/w", `invalid bind spec ":/dst": empty source`},
		{":", "/w", `invalid bind spec ":": empty source`},
		{"/src:", "/w", `invalid bind spec "/src:": empty destination`},
		{"/src::ro", "/w", `invalid bind spec "/src::ro": empty destination`},
		{"/src:rel", "/w", `invalid bind spec "/src:rel": destination "rel" is not an absolute path`},
		{"/src:/", "/w", `invalid bind spec "/src:/": cannot bind over the container root /`},
		{"/src:/a/..", "/w", `invalid bind spec "/src:/a/..": cannot bind over the container root /`},
		{"/", "/w", `invalid bind spec "/": cannot bind over the container root /`},
		// A relative source that climbs out of cwd cleans to "/", which
		// would then be its own destination.
		{"../../..", "/w/x", `invalid bind spec "../../..": cannot bind over the container root /`},
		{"rel", "", `invalid bind spec "rel": relative source "rel" needs an absolute working directory, got ""`},
		{"rel", "w", `invalid bind spec "rel": relative source "rel" needs an absolute working directory, got "w"`},
		{"/ok,/bad:x", "/w", `invalid bind spec "/bad:x": destination "x" is not an absolute path`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.value, tt.cwd)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error %q", tt.value, got, tt.wantErr)
			continue
		}
		if err.Error() != tt.wantErr {
			t.Errorf("Parse(%q) error = %q, want %q", tt.value, err, tt.wantErr)
		}
		if got != nil {
			t.Errorf("Parse(%q) returned specs %+v along with an error", tt.value, got)
		}
	}
}

func TestParseAll(t *testing.T) {
	got, err := ParseAll([]string{"/a:/b", "", "c:/d:ro,/e"}, "/w")
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{{"/a", "/b", false}, {"/w/c", "/d", true}, {"/e", "/e", false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAll() = %+v, want %+v", got, want)
	}

	if got, err := ParseAll(nil, "/w"); err != nil || got != nil {
		t.Errorf("ParseAll(nil) = %+v, %v; want nil, nil", got, err)
	}

	_, err = ParseAll([]string{"/a", "/b:/c:bogus"}, "/w")
	if want := `bind option "bogus" in "/b:/c:bogus" is not supported (want ro or rw)`; err == nil || err.Error() != want {
		t.Errorf("ParseAll with a bad value: error = %v, want %q", err, want)
	}
}

func TestParseMount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		err  string
	}{
		{"type=bind,source=/opt,destination=/hostopt", Spec{"/opt", "/hostopt", false}, ""},
		{"type=bind,src=/opt,dst=/hostopt,readonly", Spec{"/opt", "/hostopt", true}, ""},
		{"type=bind,src=data,target=/d,ro=true", Spec{"/work/data", "/d", true}, ""},
		{"type=bind,src=/a,dst=/b,readonly=false,bind-propagation=rprivate", Spec{"/a", "/b", false}, ""},
		{`type=bind,"src=/a,b",dst=/c`, Spec{"/a,b", "/c", false}, ""},
		{"type=volume,src=v,dst=/v", Spec{}, `type "volume" is not supported`},
		{"src=/a,dst=/b", Spec{}, `type "" is not supported`},
		{"type=bind,src=/a", Spec{}, "want a source and a destination"},
		{"type=bind,src=/a,dst=/b,size=1", Spec{}, `unknown field "size"`},
		{"type=bind,src=/a,dst=/b,bind-propagation=shared", Spec{}, "bind-propagation"},
		{"type=bind,src=/a:x,dst=/b", Spec{}, "colon"},
		{"type=bind,src=/a,dst=/", Spec{}, "container root"},
		{"type=bind,src=/a,dst=rel", Spec{}, "not an absolute path"},
	} {
		got, err := ParseMount(tc.in, "/work")
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && got != tc.want:
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseEscapes(t *testing.T) {
	got, err := Parse(`/data/a\,b:/in\:side:ro,/plain`, "/")
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{{"/data/a,b", "/in:side", true}, {"/plain", "/plain", false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse: %+v, want %+v", got, want)
	}
	if got, _ := Parse(`/a\b`, "/"); len(got) != 1 || got[0].Source != `/a\b` {
		t.Errorf("a backslash before another character stays: %+v", got)
	}
}
