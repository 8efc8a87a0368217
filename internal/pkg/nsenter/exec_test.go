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
			[]string{"/root", "1", "3000", "/bin", "3", "sh", "-c", "x", "2", "PATH=/bin", "A=", "-", "0", ""}, ""},
		{"caps kept, empty env and args", Exec{Args: []string{"true", ""}, Search: "/usr/bin"},
			[]string{"", "0", "-", "/usr/bin", "2", "true", "", "0", "-", "0", ""}, ""},
		{"seccomp", Exec{Args: []string{"init"}, Seccomp: &Seccomp{Errno: 1, Deny: []string{"keyctl", "kexec_load"}}},
			[]string{"", "0", "-", "", "1", "init", "0", "1", "2", "keyctl", "kexec_load", ""}, ""},
		{"seccomp errno out of range", Exec{Args: []string{"init"}, Seccomp: &Seccomp{Errno: 0}}, nil, "invalid seccomp errno"},
		{"seccomp name with a NUL or a separator", Exec{Args: []string{"init"}, Seccomp: &Seccomp{Errno: 1, Deny: []string{"keyctl\x00x"}}}, nil, "invalid syscall name"},
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

func TestEnvCgroup(t *testing.T) {
	r := Request{Paths: map[string]string{"mnt": "/proc/1/ns/mnt"}, CgroupProcs: []string{"/sys/fs/cgroup/apptainer/root.a/init.scope/cgroup.procs", "/sys/fs/cgroup/pids/apptainer/root.a/cgroup.procs"}}
	if got, want := Env(r), EnvName+"=cgroup.procs=/sys/fs/cgroup/apptainer/root.a/init.scope/cgroup.procs;cgroup.procs=/sys/fs/cgroup/pids/apptainer/root.a/cgroup.procs;mnt=/proc/1/ns/mnt"; got != want {
		t.Errorf("Env = %q, want %q", got, want)
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
	// A session of its own is for the forked process only.
	if got, want := Env(Request{Paths: map[string]string{"net": "/n"}, Fork: true, Session: true}), EnvName+"=fork;session;net=/n"; got != want {
		t.Errorf("Env with a session = %q, want %q", got, want)
	}
	if got, want := Env(Request{Paths: map[string]string{"net": "/n"}, Session: true}), EnvName+"=net=/n"; got != want {
		t.Errorf("Env with a session but no fork = %q, want %q", got, want)
	}
}

func TestJoinOrder(t *testing.T) {
	all := map[string]string{}
	for _, ns := range order {
		all[ns] = "/proc/9/ns/" + ns
	}
	tests := []struct {
		name    string
		paths   map[string]string
		foreign []string
		want    string
	}{
		{"no user namespace: the fixed order, mount last", map[string]string{"mnt": "m", "net": "n", "pid": "p", "uts": "u"}, nil, "uts,net,pid,mnt"},
		{"everything owned by the user namespace: user first", all, nil, "user,cgroup,ipc,uts,net,pid,mnt"},
		// A user-namespaced --boot-hostnet instance joined from another
		// network namespace: the host's network namespace is not the
		// instance's user namespace's, and after entering that one the
		// process may no longer join it.
		{"host network before the user namespace", all, []string{"net"}, "net,user,cgroup,ipc,uts,pid,mnt"},
		{"several foreign ones keep their order", all, []string{"mnt", "net", "cgroup"}, "cgroup,net,mnt,user,ipc,uts,pid"},
		{"foreign without a user namespace to join changes nothing", map[string]string{"net": "n", "mnt": "m", "ipc": "i"}, []string{"net"}, "ipc,net,mnt"},
		{"user marked foreign is still the user namespace", map[string]string{"user": "u", "net": "n"}, []string{"user"}, "user,net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Request{Paths: tt.paths, Foreign: map[string]bool{}}
			for _, k := range tt.foreign {
				r.Foreign[k] = true
			}
			if got := strings.Join(r.Order(), ","); got != tt.want {
				t.Errorf("Order = %s, want %s", got, tt.want)
			}
			// Env lists them in that order.
			var types []string
			for _, part := range strings.Split(strings.TrimPrefix(Env(r), EnvName+"="), ";") {
				if k, _, ok := strings.Cut(part, "="); ok {
					types = append(types, k)
				}
			}
			if got := strings.Join(types, ","); got != tt.want {
				t.Errorf("Env order = %s, want %s (%s)", got, tt.want, Env(r))
			}
		})
	}
}

func TestForPID(t *testing.T) {
	r := ForPID(42, func(t string) bool { return t == "cgroup" }, func(t string) bool { return t == "net" || t == "user" })
	if _, ok := r.Paths["cgroup"]; ok {
		t.Error("a namespace the caller shares is joined")
	}
	if r.Paths["net"] != "/proc/42/ns/net" || !r.Fork {
		t.Errorf("request %+v", r)
	}
	if !r.Foreign["net"] || r.Foreign["user"] || r.Foreign["mnt"] {
		t.Errorf("foreign %v, want net only", r.Foreign)
	}
	if got, want := Env(r), EnvName+"=fork;net=/proc/42/ns/net;user=/proc/42/ns/user;ipc=/proc/42/ns/ipc;uts=/proc/42/ns/uts;pid=/proc/42/ns/pid;mnt=/proc/42/ns/mnt"; got != want {
		t.Errorf("Env = %q, want %q", got, want)
	}
	if r := ForPID(42, nil, nil); len(r.Foreign) != 0 || len(r.Paths) != len(order) {
		t.Errorf("ForPID without callbacks: %+v", r)
	}
}
