package launcher

import (
	"errors"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
)

func TestMaxInstanceName(t *testing.T) {
	tests := []struct {
		name, runParent string
		boot            bool
		want            int
		why             string
	}{
		// 108 - len("/run/apptainer/instances/root/") - len("/host/notify") - 1
		{"booted, root", "/run/apptainer/instances/root", true, 65, "/run/apptainer/instances/root/NAME/host/notify"},
		{"booted, a user's store", "/home/alice.smith/.apptainer/instances/run/node7", true, 46, "/home/alice.smith/.apptainer/instances/run/node7/NAME/host/notify"},
		{"booted, a longer run root", "/var/run/apptainer-test/instances/root", true, 56, "must fit in a Unix socket address (107 bytes)"},
		{"not booted: no socket, the file names decide", "/run/apptainer/instances/root", false, 231, ".NAME.json.tmp-XXXXXXXXXXXXX, must fit in 255 bytes"},
		{"booted, run directory unknown", "", true, 231, "255 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := MaxInstanceName(tt.runParent, tt.boot)
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
