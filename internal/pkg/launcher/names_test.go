package launcher

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/instance"
)

func TestMaxInstanceName(t *testing.T) {
	tests := []struct {
		name, user, runRoot string
		boot                bool
		want                int
		why                 string
	}{
		// 108 - len("/run/apptainer/instances/root/") - len("/host/notify") - 1
		{"booted, root", "root", "/run/apptainer", true, 65, "/run/apptainer/instances/root/NAME/host/notify"},
		{"booted, a longer user name", "alice.smith", "/run/apptainer", true, 58, "/run/apptainer/instances/alice.smith/NAME/host/notify"},
		{"booted, a longer run root", "root", "/var/run/apptainer-test", true, 56, "must fit in a Unix socket address (107 bytes)"},
		{"not booted: no socket, the file names decide", "root", "/run/apptainer", false, 231, ".NAME.json.tmp-XXXXXXXXXXXXX, must fit in 255 bytes"},
		{"booted, run root unknown", "root", "", true, 231, "255 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := MaxInstanceName(tt.user, tt.runRoot, tt.boot)
			if got != tt.want {
				t.Errorf("MaxInstanceName = %d, want %d", got, tt.want)
			}
			if !strings.Contains(why, tt.why) {
				t.Errorf("why = %q, want it to contain %q", why, tt.why)
			}
		})
	}
}

func TestInstanceNameLengthInBuild(t *testing.T) {
	bootOpts := func(name string) Options {
		return instanceOpts(func(o *Options) { o.Boot = true; o.Hostname = "short"; o.InstanceName = name })
	}
	plainOpts := func(name string) Options { return instanceOpts(func(o *Options) { o.InstanceName = name }) }
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"booted at the limit", bootOpts(strings.Repeat("a", 65)), true},
		{"booted one over", bootOpts(strings.Repeat("a", 66)), false},
		{"booted on the host network one over", instanceOpts(func(o *Options) {
			o.Boot, o.BootHostnet, o.Hostname, o.InstanceName = true, true, "short", strings.Repeat("a", 66)
		}), false},
		{"plain instance at the limit", plainOpts(strings.Repeat("a", 231)), true},
		{"plain instance one over", plainOpts(strings.Repeat("a", 232)), false},
		{"exec is not an instance", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, InstanceName: strings.Repeat("a", 300)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Build(tt.opts, apptainerconf.Default(), rootHost())
			if tt.ok && err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !tt.ok && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "instance name too long")) {
				t.Fatalf("Build error %v, want an invalid-options error about the name's length", err)
			}
		})
	}
}

// TestInstanceNameLimitsAreReal checks the limits against the kernel and
// the instance store: at the limit the socket binds and the files are
// made; one over, the socket does not bind. (The files' limit keeps a
// margin for the random part of the temporary name, so one over may still
// work by chance.)
func TestInstanceNameLimitsAreReal(t *testing.T) {
	// The limit is computed for whatever run root is given: a temporary
	// one serves as well as /run/apptainer.
	runRoot := filepath.Join(t.TempDir(), "r")
	n, _ := MaxInstanceName("root", runRoot, true)
	if n < 1 {
		t.Skipf("temporary directory %s too long for a notify socket at all", runRoot)
	}
	bind := func(name string) error {
		dir := filepath.Join(runRoot, "instances", "root", name, "host")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
		if err == nil {
			l.Close()
		}
		return err
	}
	if err := bind(strings.Repeat("b", n)); err != nil {
		t.Errorf("a notify socket for a name of %d characters (the limit) does not bind: %v", n, err)
	}
	if err := bind(strings.Repeat("b", n+1)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("a notify socket for a name of %d characters (one over) gave %v, want EINVAL", n+1, err)
	}

	files, _ := MaxInstanceName("root", "", false)
	name := strings.Repeat("f", files)
	paths := instance.Paths{ConfigDir: t.TempDir(), Hostname: "node7", User: "root"}
	if err := paths.Create(&instance.File{Name: name, PPid: os.Getpid(), User: "root", Image: "/img"}); err != nil {
		t.Errorf("instance file for a name of %d characters (the limit): %v", files, err)
	}
	// Written again: the temporary copy is the longest name.
	if err := paths.Write(&instance.File{Name: name, PPid: os.Getpid(), User: "root", Image: "/img"}); err != nil {
		t.Errorf("instance file rewritten for a name of %d characters: %v", files, err)
	}
	out, errLog := paths.LogPaths(name)
	for _, p := range []string{out, errLog, strings.TrimSuffix(errLog, ".err") + ".hostnet.json"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Errorf("log file for a name of %d characters: %v", files, err)
		}
	}
	// And the limit is not far off: 24 characters more than the name is
	// over NAME_MAX.
	long := filepath.Join(t.TempDir(), "."+name+".json.tmp-"+strings.Repeat("z", 14))
	if err := os.WriteFile(long, nil, 0o644); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("a file name of %d bytes gave %v, want ENAMETOOLONG", len(filepath.Base(long)), err)
	}
}
