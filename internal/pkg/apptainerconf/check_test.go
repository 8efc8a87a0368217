package apptainerconf

import (
	"strings"
	"testing"
)

func TestValueChecks(t *testing.T) {
	tests := []struct {
		check func(string) error
		name  string
		value string
		ok    bool
	}{
		{absolutePath, "absolute", "/run/netns/a", true},
		{absolutePath, "relative", "run/netns/a", false},
		{absolutePath, "dot", "./cni", false},
		{bindSpec, "source only", "/opt", true},
		{bindSpec, "source and destination", "/scratch:/data", true},
		{bindSpec, "with options", "/scratch:/data:ro", true},
		{bindSpec, "relative source", "opt:/opt", false},
		{bindSpec, "relative destination", "/opt:opt", false},
		{bindSpec, "empty destination", "/opt:", false},
		{unitName, "service", "my-vpn.service", true},
		{unitName, "template", "ifup@.service", true},
		{unitName, "instance", "getty@tty1.service", true},
		{unitName, "escaped", `dev-disk-by\x2dlabel.device`, true},
		{unitName, "socket", "avahi-daemon.socket", true},
		{unitName, "no type", "my-vpn", false},
		{unitName, "unknown type", "my-vpn.conf", false},
		{unitName, "type only", ".service", false},
		{unitName, "template without name", "@.service", false},
		{unitName, "blank", "my vpn.service", false},
		{unitName, "quote", `a".service`, false},
		{unitName, "path", "/etc/systemd/system/a.service", false},
		{unitName, "too long", strings.Repeat("a", 248) + ".service", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.value)
			if (err == nil) != tc.ok {
				t.Errorf("check(%q) = %v, want ok=%v", tc.value, err, tc.ok)
			}
		})
	}
}
