package nsenter

import (
	"strings"
	"testing"
)

func TestExecEncode(t *testing.T) {
	caps := uint64(0x3000)
	tests := []struct {
		name    string
		e       Exec
		want    []string
		wantErr string
	}{
		{"full", Exec{Args: []string{"sh", "-c", "x"}, Env: []string{"PATH=/bin", "A="}, Cwd: "/root", Search: "/bin", Caps: &caps, NoNewPrivs: true},
			[]string{"/root", "1", "3000", "/bin", "3", "sh", "-c", "x", "2", "PATH=/bin", "A=", ""}, ""},
		{"caps kept, empty env and args", Exec{Args: []string{"true", ""}, Search: "/usr/bin"},
			[]string{"", "0", "-", "/usr/bin", "2", "true", "", "0", ""}, ""},
		{"no command", Exec{}, nil, "no command to run"},
		{"NUL in an argument", Exec{Args: []string{"a\x00b"}}, nil, "NUL byte"},
		{"NUL in the environment", Exec{Args: []string{"a"}, Env: []string{"X=\x00"}}, nil, "NUL byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.e.Encode()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(string(b), "\x00"); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("fields = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	r := Request{Paths: map[string]string{"mnt": "/proc/1/ns/mnt", "user": "/proc/1/ns/user", "net": "/n"}, Fork: true, ExecFD: 5}
	if got, want := Env(r), EnvName+"=fork;exec=5;user=/proc/1/ns/user;net=/n;mnt=/proc/1/ns/mnt"; got != want {
		t.Errorf("Env = %q, want %q", got, want)
	}
	if got, want := Env(Request{Paths: map[string]string{"net": "/n"}, ExecFD: 2}), EnvName+"=net=/n"; got != want {
		t.Errorf("Env without exec = %q, want %q", got, want)
	}
}
