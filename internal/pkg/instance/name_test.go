package instance

import (
	"errors"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"web", true},
		{"Web-01", true},
		{"a.b_c-d", true},
		{"9", true},
		{".hidden", true},
		{"...", true},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"../etc", false},
		{"with space", false},
		{" lead", false},
		{"tab\t", false},
		{"new\nline", false},
		{"ünïcode", false},
		{"名前", false},
		{"semi;colon", false},
		{"star*", false},
		{"nul\x00", false},
	}
	for _, tt := range tests {
		err := CheckName(tt.name)
		if tt.valid {
			if err != nil {
				t.Errorf("CheckName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("CheckName(%q) = nil, want an error", tt.name)
			continue
		}
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%q) = %v, does not wrap ErrInvalidName", tt.name, err)
		}
		if want := tt.name + " is not a valid instance name"; err.Error() != want {
			t.Errorf("CheckName(%q) = %q, want %q", tt.name, err.Error(), want)
		}
	}
}

func TestMonitorName(t *testing.T) {
	if got, want := MonitorName("root", "web"), "Apptainer instance: root [web]"; got != want {
		t.Errorf("MonitorName = %q, want %q", got, want)
	}
}
