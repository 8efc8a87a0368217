package apptainerconf

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, and any
// input it accepts must survive WriteTo and Parse unchanged: what an admin
// tool writes back is what was read.
func FuzzParse(f *testing.F) {
	f.Add([]byte("allow setuid = yes\n"))
	f.Add([]byte("bind path =\nbind path = /a, /b:/c\n"))
	f.Add([]byte("Boot  Timeout=30\r\n# c\nboot hostnet guard = FAIL\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		first, _, err := Parse(bytes.NewReader(data), "fuzz.conf")
		if err != nil {
			if first != nil {
				t.Fatalf("Parse returned both a File and %v", err)
			}
			return
		}
		var out bytes.Buffer
		if _, err := first.WriteTo(&out); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		second, warnings, err := Parse(bytes.NewReader(out.Bytes()), "written.conf")
		if err != nil {
			t.Fatalf("re-parse of accepted input failed: %v\ninput: %q\nwritten: %q", err, data, out.Bytes())
		}
		if len(warnings) != 0 {
			t.Fatalf("re-parse warned: %v", warnings)
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("re-parse differs:\ninput: %q\n first  %+v\n second %+v", data, first, second)
		}
	})
}
