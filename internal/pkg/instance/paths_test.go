package instance

import (
	"testing"
)

func TestDefaultConfigDir(t *testing.T) {
	tests := []struct {
		desc string
		env  map[string]string
		home string
		want string
	}{
		{"home", nil, "/home/alice", "/home/alice/.apptainer"},
		{"apptainer variable", map[string]string{"APPTAINER_CONFIGDIR": "/cfg/a"}, "/home/alice", "/cfg/a"},
		{"singularity variable", map[string]string{"SINGULARITY_CONFIGDIR": "/cfg/s"}, "/home/alice", "/cfg/s"},
		{"apptainer wins", map[string]string{"APPTAINER_CONFIGDIR": "/cfg/a", "SINGULARITY_CONFIGDIR": "/cfg/s"}, "/home/alice", "/cfg/a"},
		{"empty variable ignored", map[string]string{"APPTAINER_CONFIGDIR": "", "SINGULARITY_CONFIGDIR": "/cfg/s"}, "/home/alice", "/cfg/s"},
		{"no home", nil, "", "/.apptainer"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			env := func(k string) string { return tt.env[k] }
			if got := DefaultConfigDir(env, tt.home); got != tt.want {
				t.Errorf("DefaultConfigDir = %q, want %q", got, tt.want)
			}
		})
	}
	if got := DefaultConfigDir(nil, "/root"); got != "/root/.apptainer" {
		t.Errorf("DefaultConfigDir(nil env) = %q, want /root/.apptainer", got)
	}
}

func TestPathsLayout(t *testing.T) {
	p := Paths{ConfigDir: "/home/alice/.apptainer", Hostname: "node01", User: "alice"}
	if got, want := p.Dir("web"), "/home/alice/.apptainer/instances/app/node01/alice/web"; got != want {
		t.Errorf("Dir = %q, want %q", got, want)
	}
	if got, want := p.FilePath("web"), "/home/alice/.apptainer/instances/app/node01/alice/web/web.json"; got != want {
		t.Errorf("FilePath = %q, want %q", got, want)
	}
	out, errPath := p.LogPaths("web")
	if want := "/home/alice/.apptainer/instances/logs/node01/alice/web.out"; out != want {
		t.Errorf("LogPaths out = %q, want %q", out, want)
	}
	if want := "/home/alice/.apptainer/instances/logs/node01/alice/web.err"; errPath != want {
		t.Errorf("LogPaths err = %q, want %q", errPath, want)
	}
}

func TestPathsCheck(t *testing.T) {
	tests := []struct {
		desc  string
		p     Paths
		valid bool
	}{
		{"complete", Paths{ConfigDir: "/cfg", Hostname: "node01", User: "alice"}, true},
		{"empty config dir", Paths{ConfigDir: "", Hostname: "node01", User: "alice"}, false},
		{"relative config dir", Paths{ConfigDir: "cfg", Hostname: "node01", User: "alice"}, false},
		{"empty hostname", Paths{ConfigDir: "/cfg", Hostname: "", User: "alice"}, false},
		{"empty user", Paths{ConfigDir: "/cfg", Hostname: "node01", User: ""}, false},
		{"user with slash", Paths{ConfigDir: "/cfg", Hostname: "node01", User: "a/b"}, false},
		{"dot-dot user", Paths{ConfigDir: "/cfg", Hostname: "node01", User: ".."}, false},
		{"dot hostname", Paths{ConfigDir: "/cfg", Hostname: ".", User: "alice"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := tt.p.check()
			if tt.valid != (err == nil) {
				t.Fatalf("check() = %v, want valid=%v", err, tt.valid)
			}
			// Every disk operation must refuse such a Paths.
			if !tt.valid {
				if err := tt.p.Write(&File{Name: "web"}); err == nil {
					t.Error("Write accepted invalid Paths")
				}
				if _, err := tt.p.List(""); err == nil {
					t.Error("List accepted invalid Paths")
				}
			}
		})
	}
}
