package cli

import "testing"

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
