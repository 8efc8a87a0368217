package cli

import (
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
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

func TestIDMapText(t *testing.T) {
	for _, tc := range []struct {
		maps []config.IDMap
		want string
	}{
		{[]config.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
			"container id 0 is host id 1000, container ids 1-65536 are host ids 100000-165535"},
		{[]config.IDMap{{ContainerID: 1000, HostID: 1000, Size: 1}}, "container id 1000 is host id 1000"},
		{nil, "no ids mapped"},
	} {
		if got := idMapText(tc.maps); got != tc.want {
			t.Errorf("idMapText(%v) = %q, want %q", tc.maps, got, tc.want)
		}
	}
}
