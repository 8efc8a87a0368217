package engine

import (
	"testing"
	"time"
)

func TestIdentifyInit(t *testing.T) {
	tests := []struct {
		resolved, program string
		want              BootInit
	}{
		{"/usr/lib/systemd/systemd", "", BootInit{Name: "systemd", Notifies: true, StopSignal: 37}},
		{"/lib/systemd/systemd", "", BootInit{Name: "systemd", Notifies: true, StopSignal: 37}},
		{"/bin/busybox", "", BootInit{Name: "busybox init", StopSignal: 12}},
		{"/usr/sbin/init", ProgramSysvinit, BootInit{Name: "sysvinit", StopSignal: 2}},
		// The content wins over the name: a sysvinit binary named so.
		{"/lib/systemd/systemd", ProgramSysvinit, BootInit{Name: "sysvinit", StopSignal: 2}},
		{"/sbin/openrc-init", "", BootInit{Name: "/sbin/openrc-init", StopSignal: 2}},
		{"/usr/bin/tini", "", BootInit{Name: "/usr/bin/tini", StopSignal: 2}},
		{"", "", BootInit{Name: "/sbin/init", StopSignal: 2}},
		// A name only ending in systemd is not systemd.
		{"/sbin/notsystemd", "", BootInit{Name: "/sbin/notsystemd", StopSignal: 2}},
	}
	for _, tt := range tests {
		if got := IdentifyInit(tt.resolved, tt.program); got != tt.want {
			t.Errorf("IdentifyInit(%q, %q) = %+v, want %+v", tt.resolved, tt.program, got, tt.want)
		}
	}
}

func TestProgramOf(t *testing.T) {
	if got := ProgramOf([]byte("\x7fELF....INIT_VERSION=sysvinit-3.06\x00...")); got != ProgramSysvinit {
		t.Errorf("sysvinit's marker: %q", got)
	}
	for _, head := range []string{"", "\x7fELF systemd", "#!/bin/sh\nexec init\n", "INIT_VERSION=other"} {
		if got := ProgramOf([]byte(head)); got != "" {
			t.Errorf("ProgramOf(%q) = %q, want none", head, got)
		}
	}
}

func TestSettleWatch(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		ms   int
		pids []int
		want bool
	}{
		{0, []int{1}, false},
		{1000, []int{1, 7}, false}, // rcS started: the clock restarts
		{2500, []int{7, 1}, false}, // same set in another order: 1.5 s quiet
		{3000, []int{1, 7}, true},  // 2 s quiet
		{3100, []int{1, 7, 9}, false},
		{3200, nil, false}, // an unreadable cgroup never settles ...
		{5300, nil, false}, // ... however long
		{5400, []int{1, 7, 9}, false},
		{7399, []int{1, 7, 9}, false},
		{7400, []int{1, 7, 9}, true},
	}
	w := settleWatch{quiet: 2 * time.Second}
	for _, s := range steps {
		if got := w.observe(at(s.ms), s.pids); got != s.want {
			t.Errorf("at %d ms with %v: settled %v, want %v", s.ms, s.pids, got, s.want)
		}
	}
}
