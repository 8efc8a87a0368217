package cli

import (
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"golang.org/x/sys/unix"
)

func TestDefaultStopSignal(t *testing.T) {
	tests := []struct {
		name string
		f    instance.File
		want unix.Signal
	}{
		{"not booted", instance.File{StopSignal: 12}, unix.SIGINT},
		{"systemd", instance.File{Boot: true, StopSignal: 37}, 37},
		{"busybox init", instance.File{Boot: true, StopSignal: 12}, 12}, // SIGUSR2 on Linux
		{"sysvinit", instance.File{Boot: true, StopSignal: 2}, 2},
		// Started by a version that did not record its init.
		{"older record", instance.File{Boot: true}, 37},
		{"out of range", instance.File{Boot: true, StopSignal: 99}, 37},
	}
	for _, tt := range tests {
		if got := defaultStopSignal(&tt.f); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
