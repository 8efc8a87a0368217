package instance

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMonitorAliveDecision(t *testing.T) {
	monitor := []byte("Apptainer instance: root [web]\x00")
	tests := []struct {
		desc    string
		ppid    int
		signals []error // results of successive signal-0 probes
		cmdline []byte
		readErr error
		want    bool
	}{
		{"zero ppid", 0, nil, monitor, nil, false},
		{"negative ppid", -4, nil, monitor, nil, false},
		{"no such process", 42, []error{unix.ESRCH}, monitor, nil, false},
		{"monitor", 42, []error{nil}, monitor, nil, true},
		{"monitor of another user", 42, []error{unix.EPERM}, monitor, nil, true},
		{"recycled pid", 42, []error{nil}, []byte("/usr/bin/bash\x00"), nil, false},
		{"zombie has empty cmdline", 42, []error{nil}, []byte{}, nil, false},
		{"prefix must start the line", 42, []error{nil}, []byte("x Apptainer instance: root [web]"), nil, false},
		{"exited between probes", 42, []error{nil, unix.ESRCH}, nil, os.ErrNotExist, false},
		{"cmdline hidden", 42, []error{nil, nil}, nil, os.ErrPermission, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			calls := 0
			probe := processProbe{
				signal0: func(pid int) error {
					if pid != tt.ppid {
						t.Errorf("signalled pid %d, want %d", pid, tt.ppid)
					}
					if calls >= len(tt.signals) {
						t.Fatalf("unexpected signal probe #%d", calls+1)
					}
					calls++
					return tt.signals[calls-1]
				},
				cmdline: func(int) ([]byte, error) { return tt.cmdline, tt.readErr },
			}
			if got := monitorAlive(tt.ppid, probe); got != tt.want {
				t.Errorf("monitorAlive = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAliveRealProcesses(t *testing.T) {
	m := startMonitor(t, "x")
	if !Alive(&File{Name: "x", PPid: m.pid()}) {
		t.Error("a live process named like a monitor is not alive")
	}
	if Alive(&File{Name: "x", PPid: os.Getpid()}) {
		t.Error("the test process, which is not a monitor, counts as alive")
	}
	if Alive(&File{Name: "x", PPid: deadPID(t)}) {
		t.Error("an exited process counts as alive")
	}
	if Alive(&File{Name: "x"}) {
		t.Error("a file without ppid counts as alive")
	}
	if Alive(nil) {
		t.Error("nil counts as alive")
	}
	m.kill()
	if Alive(&File{Name: "x", PPid: m.pid()}) {
		t.Error("a killed monitor still counts as alive")
	}
	if err := unix.Kill(m.pid(), 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("killed monitor still exists: %v", err)
	}
}

func TestWaitGone(t *testing.T) {
	m := startMonitor(t, "waitgone")
	f := &File{Name: "waitgone", PPid: m.pid()}
	if WaitGone(f, 50*time.Millisecond) {
		t.Fatal("WaitGone reported a running monitor as gone")
	}
	exited := make(chan bool, 1)
	go func() { exited <- WaitGone(f, 10*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	if err := m.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if !<-exited {
		t.Error("WaitGone did not see the monitor exit")
	}
	if !WaitGone(&File{Name: "none"}, time.Second) {
		t.Error("WaitGone on a file without monitor: want true at once")
	}
}
