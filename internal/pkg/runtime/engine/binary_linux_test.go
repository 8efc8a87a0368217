package engine

import "testing"

func TestFindHelper(t *testing.T) {
	const binDir, engineDir = "/usr/bin", "/usr/libexec/apptainer/bin"
	tests := []struct {
		name   string
		exe    string
		exists []string
		want   string
	}{
		{"build directory", "/src/builddir/apptainer", []string{"/src/builddir/apptainer-engine", engineDir + "/apptainer-engine"}, "/src/builddir/apptainer-engine"},
		{"installed CLI", "/usr/bin/apptainer", []string{engineDir + "/apptainer-engine"}, engineDir + "/apptainer-engine"},
		{"the engine starting a stage", engineDir + "/apptainer-engine", []string{engineDir + "/apptainer-engine"}, engineDir + "/apptainer-engine"},
		{"dev build never pairs with the installed engine", "/home/u/apptainer", []string{engineDir + "/apptainer-engine"}, ""},
		{"installed CLI without engine", "/usr/bin/apptainer", nil, ""},
		{"bin dir with trailing slash", "/usr/bin/apptainer", []string{engineDir + "/apptainer-engine"}, engineDir + "/apptainer-engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exists := func(p string) bool {
				for _, e := range tt.exists {
					if e == p {
						return true
					}
				}
				return false
			}
			bd := binDir
			if tt.name == "bin dir with trailing slash" {
				bd += "/"
			}
			if got := findHelper(EngineBinaryName, tt.exe, bd, engineDir, exists); got != tt.want {
				t.Errorf("findHelper(%q) = %q, want %q", tt.exe, got, tt.want)
			}
		})
	}
}
