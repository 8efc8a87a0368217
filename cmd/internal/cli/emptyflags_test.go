package cli

import (
	"strings"
	"testing"
)

func TestEmptyValuesReachTheLauncher(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(o *actionOptions) bool
	}{
		{"empty unmask is kept", []string{"--boot-hostnet-unmask", ""}, func(o *actionOptions) bool {
			return len(o.BootHostnetUnmask) == 1 && o.BootHostnetUnmask[0] == ""
		}},
		{"empty item is kept", []string{"--boot-hostnet-unmask", "a.service,,b.service"}, func(o *actionOptions) bool {
			return strings.Join(o.BootHostnetUnmask, "|") == "a.service||b.service"
		}},
		{"repeated flags append", []string{"--boot-hostnet-unmask", "a.service", "--boot-hostnet-unmask=b.service,c.socket"}, func(o *actionOptions) bool {
			return strings.Join(o.BootHostnetUnmask, "|") == "a.service|b.service|c.socket"
		}},
		{"no flag, no items", nil, func(o *actionOptions) bool { return o.BootHostnetUnmask == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, err := parseAction(t, groupInstance, tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("options after %q: unmask %q", tt.args, o.BootHostnetUnmask)
			}
		})
	}
}

// TestEmptyHostnetFlagsRefused runs the real command tree. The image is an
// empty directory: were the flags accepted, the start would stop at the
// missing /sbin/init, before anything is made.
func TestEmptyHostnetFlagsRefused(t *testing.T) {
	img := t.TempDir()
	t.Setenv("HOME", t.TempDir())
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty unmask", []string{"--boot-hostnet-unmask", ""}, "--boot-hostnet-unmask needs a unit name, got an empty one"},
		{"empty unmask item", []string{"--boot-hostnet-unmask", "chrony.service,"}, "--boot-hostnet-unmask needs a unit name, got an empty one"},
		{"empty guard", []string{"--boot-hostnet-guard="}, "--boot-hostnet-guard needs a value: off, warn or fail"},
		{"empty guard, separate argument", []string{"--boot-hostnet-guard", ""}, "--boot-hostnet-guard needs a value: off, warn or fail"},
		// Positive control: a valid value passes these checks and the
		// start stops where an empty image makes it stop.
		{"valid guard", []string{"--boot-hostnet-guard", "warn"}, "needs /sbin/init"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"instance", "start", "--boot", "--boot-hostnet"}, tt.args...)
			out, code, err := runHostnet(t, append(args, img, "n1")...)
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if code == 0 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("exit %d, error %q, want %q", code, err, tt.want)
			}
		})
	}
}
