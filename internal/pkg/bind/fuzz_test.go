package bind

import (
	"path/filepath"
	"testing"
)

// FuzzParse checks the invariants every caller relies on: Parse never
// panics, and whatever it accepts is absolute, clean and not the root,
// the path inside an image bind included.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ value, cwd string }{
		{"/data", "/work"},
		{"/data:/mnt:ro", "/work"},
		{"rel:/mnt:rw,/b", "/work"},
		{"a:b:c:d", "/"},
		{"../..", "/w"},
		{":,::,", ""},
		{"/i:/d:image-src=/x,ro,id=2", "/"},
	} {
		f.Add(seed.value, seed.cwd)
	}
	f.Fuzz(func(t *testing.T, value, cwd string) {
		specs, err := Parse(value, cwd)
		if err != nil {
			if specs != nil {
				t.Fatalf("Parse(%q, %q) returned specs with error %v", value, cwd, err)
			}
			return
		}
		for _, s := range specs {
			for _, p := range []string{s.Source, s.Destination} {
				if !filepath.IsAbs(p) || filepath.Clean(p) != p {
					t.Fatalf("Parse(%q, %q) accepted %+v: %q is not absolute and clean", value, cwd, s, p)
				}
			}
			if s.ImageSrc != "" && (!filepath.IsAbs(s.ImageSrc) || filepath.Clean(s.ImageSrc) != s.ImageSrc) {
				t.Fatalf("Parse(%q, %q) accepted %+v: the path inside the image is not absolute and clean", value, cwd, s)
			}
			if s.ID != 0 && s.ImageSrc == "" {
				t.Fatalf("Parse(%q, %q) accepted %+v: an id without an image bind", value, cwd, s)
			}
			if s.Destination == "/" {
				t.Fatalf("Parse(%q, %q) accepted %+v with the root as destination", value, cwd, s)
			}
		}
	})
}
