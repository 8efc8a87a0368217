package launcher

import (
	"errors"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
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
