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
		{"source only", "/data", "/work", []Spec{sp("/data", "/data", false)}},
		{"source and destination", "/data:/mnt", "/work", []Spec{sp("/data", "/mnt", false)}},
		{"read-only", "/data:/mnt:ro", "/work", []Spec{sp("/data", "/mnt", true)}},
		{"read-write", "/data:/mnt:rw", "/work", []Spec{sp("/data", "/mnt", false)}},
		{"relative source", "data", "/work", []Spec{sp("/work/data", "/work/data", false)}},
		{"relative source with dot segments", "./a/../b:/b", "/work/x", []Spec{sp("/work/x/b", "/b", false)}},
		{"cleaned paths", "//data/./x/:/mnt//y/../z/", "/work", []Spec{sp("/data/x", "/mnt/z", false)}},
		{"host root at another place", "/:/host:ro", "/work", []Spec{sp("/", "/host", true)}},
		{"several specs", "/a, /b:/c:ro ,rel:/d", "/w", []Spec{sp("/a", "/a", false), sp("/b", "/c", true), sp("/w/rel", "/d", false)}},
		{"trailing comma", "/a,", "/w", []Spec{sp("/a", "/a", false)}},
		{"no cwd needed for absolute", "/a", "", []Spec{sp("/a", "/a", false)}},
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
		{"/src:/dst:xx", "/w", `invalid bind spec "/src:/dst:xx": bind option "xx" is not supported (want ro, rw, image-src=PATH or id=N)`},
		{"/src:/dst:RO", "/w", `invalid bind spec "/src:/dst:RO": bind option "RO" is not supported (want ro, rw, image-src=PATH or id=N)`},
		{"/src:/dst:", "/w", `invalid bind spec "/src:/dst:": bind option "" is not supported (want ro, rw, image-src=PATH or id=N)`},
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
		{"/img:/d:id=0", "/w", `invalid bind spec "/img:/d:id=0": bind option id="0": the id must be a SIF descriptor number greater than 0`},
		{"/img:/d:id=x", "/w", `invalid bind spec "/img:/d:id=x": bind option id="x": the id must be a SIF descriptor number greater than 0`},
		{"/img:/d:fake_option=fake", "/w", `invalid bind spec "/img:/d:fake_option=fake": bind option "fake_option=fake" is not supported (want ro, rw, image-src=PATH or id=N)`},
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

// sp is a plain bind's Spec.
func sp(src, dst string, ro bool) Spec { return Spec{Source: src, Destination: dst, ReadOnly: ro} }

// img is an image bind's Spec.
func img(src, dst, inside string, id uint32, ro bool) Spec {
	return Spec{Source: src, Destination: dst, ReadOnly: ro, ImageSrc: inside, ID: id}
}

func TestParseImageBinds(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  []Spec
	}{
		{"/i.sqfs:/d:image-src=/", []Spec{img("/i.sqfs", "/d", "/", 0, false)}},
		{"/i.sqfs:/d:image-src=", []Spec{img("/i.sqfs", "/d", "/", 0, false)}},
		{"/i.sqfs:/d:image-src=sub/../x/", []Spec{img("/i.sqfs", "/d", "/x", 0, false)}},
		{"/i.sqfs:/d:image-src=/../../etc", []Spec{img("/i.sqfs", "/d", "/etc", 0, false)}},
		// Options after a comma belong to the spec before, which has some.
		{"/e.img:/d:image-src=/,ro", []Spec{img("/e.img", "/d", "/", 0, true)}},
		{"/e.img:/d:ro,image-src=/data", []Spec{img("/e.img", "/d", "/data", 0, true)}},
		{"/x.sif:/r:id=4", []Spec{img("/x.sif", "/r", "/", 4, false)}},
		{"/x.sif:/r:id=4,image-src=/etc", []Spec{img("/x.sif", "/r", "/etc", 4, false)}},
		{"/a:/b:image-src=/,/c:/d", []Spec{img("/a", "/b", "/", 0, false), sp("/c", "/d", false)}},
		// Without options of its own, "ro" after a comma is a path.
		{"/a:/b,ro", []Spec{sp("/a", "/b", false), sp("/w/ro", "/w/ro", false)}},
	} {
		got, err := Parse(tc.value, "/w")
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.value, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.value, got, tc.want)
		}
	}
}

func TestParseAll(t *testing.T) {
	got, err := ParseAll([]string{"/a:/b", "", "c:/d:ro,/e"}, "/w")
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{sp("/a", "/b", false), sp("/w/c", "/d", true), sp("/e", "/e", false)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAll() = %+v, want %+v", got, want)
	}

	if got, err := ParseAll(nil, "/w"); err != nil || got != nil {
		t.Errorf("ParseAll(nil) = %+v, %v; want nil, nil", got, err)
	}

	_, err = ParseAll([]string{"/a", "/b:/c:bogus"}, "/w")
	if want := `invalid bind spec "/b:/c:bogus": bind option "bogus" is not supported (want ro, rw, image-src=PATH or id=N)`; err == nil || err.Error() != want {
		t.Errorf("ParseAll with a bad value: error = %v, want %q", err, want)
	}
}

func TestParseMount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		err  string
	}{
		{"type=bind,source=/opt,destination=/hostopt", sp("/opt", "/hostopt", false), ""},
		{"type=bind,src=/opt,dst=/hostopt,readonly", sp("/opt", "/hostopt", true), ""},
		{"type=bind,src=data,target=/d,ro=true", sp("/work/data", "/d", true), ""},
		{"type=bind,src=/a,dst=/b,readonly=false,bind-propagation=rprivate", sp("/a", "/b", false), ""},
		{`type=bind,"src=/a,b",dst=/c`, sp("/a,b", "/c", false), ""},
		{"type=bind,source=/i.sif,destination=/ext3,image-src=/", img("/i.sif", "/ext3", "/", 0, false), ""},
		{"type=bind,src=/i.sif,dst=/r,id=4,readonly", img("/i.sif", "/r", "/", 4, true), ""},
		{"type=bind,src=/i.sif,dst=/r,image-src=", Spec{}, "image-src cannot be empty"},
		{"type=bind,src=/i.sif,dst=/r,id=0", Spec{}, "greater than 0"},
		{`type=bind,src=/i.sif,dst=/r,"image-src=/a,b"`, Spec{}, "comma or colon"},
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
	want := []Spec{sp("/data/a,b", "/in:side", true), sp("/plain", "/plain", false)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse: %+v, want %+v", got, want)
	}
	if got, _ := Parse(`/a\b`, "/"); len(got) != 1 || got[0].Source != `/a\b` {
		t.Errorf("a backslash before another character stays: %+v", got)
	}
}
