package cli

import (
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/instance"
)

func TestListPattern(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		glob        string
		matchesSome bool
	}{
		{nil, "*", true},
		{[]string{"web"}, "web", true},
		{[]string{"node*"}, "node*", true},
		// An empty name is not "all": `instance stop "$UNSET"` stops nothing.
		{[]string{""}, "", false},
	} {
		glob, some := listPattern(tc.args)
		if some != tc.matchesSome || (some && glob != tc.glob) {
			t.Errorf("listPattern(%q) = %q, %v; want %q, %v", tc.args, glob, some, tc.glob, tc.matchesSome)
		}
	}
}

func TestListedHidesShareNS(t *testing.T) {
	files := []*instance.File{{Name: "web"}, {Name: "sharens_instance_9", ShareNSMode: true}}
	if got := listed(files, false); len(got) != 1 || got[0].Name != "web" {
		t.Errorf("listed without --all: %v", got)
	}
	if got := listed(files, true); len(got) != 2 {
		t.Errorf("listed with --all: %v", got)
	}
	if sharedInstanceName(77) != "sharens_instance_77" {
		t.Errorf("shared instance name %q", sharedInstanceName(77))
	}
}
