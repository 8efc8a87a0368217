package capabilities

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRootDefault(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"users":{"root":["CAP_NET_ADMIN","cap_sys_admin","chown","CAP_NET_ADMIN"],"alice":["CAP_SYS_BOOT"]},"groups":{"root":["CAP_SYS_TIME"]}}`)
	noRoot := write("noroot.json", `{"users":{"alice":["CAP_SYS_BOOT"]},"groups":{}}`)
	empty := write("empty.json", "")
	blank := write("blank.json", " \n")
	emptyObject := write("object.json", "{}")
	bad := write("bad.json", `{"users":{"root":[`)
	wrongType := write("array.json", `["CAP_CHOWN"]`)
	trailing := write("trailing.json", `{"users":{}} x`)
	unknown := write("unknown.json", `{"users":{"root":["CAP_BOGUS"]},"groups":{}}`)
	missing := filepath.Join(dir, "missing.json")

	tests := []struct {
		name    string
		mode    string
		file    string
		want    []string
		wantErr string
	}{
		{"full", "full", missing, Known(), ""},
		{"full ignores the file", "full", bad, Known(), ""},
		{"no", "no", good, []string{}, ""},
		{"file", "file", good, []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"}, ""},
		{"file without root entry", "file", noRoot, []string{}, ""},
		{"file missing", "file", missing, []string{}, ""},
		{"file empty", "file", empty, []string{}, ""},
		{"file blank", "file", blank, []string{}, ""},
		{"file empty object", "file", emptyObject, []string{}, ""},
		{"file bad JSON", "file", bad, nil, `failed to parse capability file "` + bad + `"`},
		{"file not an object", "file", wrongType, nil, `failed to parse capability file "` + wrongType + `"`},
		{"file trailing data", "file", trailing, nil, `failed to parse capability file "` + trailing + `"`},
		{"file unknown cap", "file", unknown, nil, `capability file "` + unknown + `" grants unknown capability "CAP_BOGUS" to root`},
		{"file is a directory", "file", dir, nil, `failed to read capability file "` + dir + `"`},
		{"bad mode", "yes", good, nil, `invalid value "yes" for "root default capabilities" (want full, file or no)`},
		{"empty mode", "", good, nil, `invalid value "" for "root default capabilities"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RootDefault(tt.mode, tt.file)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("RootDefault(%q) error = %v, want prefix %q", tt.mode, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("RootDefault(%q) failed: %v", tt.mode, err)
			}
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("RootDefault(%q) = %#v, want %#v", tt.mode, got, tt.want)
			}
		})
	}
}
