package instance

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// fakeMonitor is a process whose command line looks like an instance
// monitor's: sleep(1) started with argv[0] set to MonitorName.
type fakeMonitor struct {
	cmd *exec.Cmd
}

// startMonitor starts a fake monitor for instance name; it is killed when
// the test ends, if the test has not killed it already.
func startMonitor(t *testing.T, name string) *fakeMonitor {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("sleep not found: %v", err)
	}
	cmd := &exec.Cmd{Path: sleep, Args: []string{MonitorName("root", name), "600"}}
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start fake monitor: %v", err)
	}
	m := &fakeMonitor{cmd: cmd}
	t.Cleanup(m.kill)
	// Start returns when execve has closed the close-on-exec descriptors,
	// which is before the kernel records where the new argv lies; until
	// then /proc/<pid>/cmdline reads empty.
	path := "/proc/" + strconv.Itoa(m.pid()) + "/cmdline"
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) { // poll interval: /proc has no change notification
		if b, _ := os.ReadFile(path); bytes.HasPrefix(b, []byte(MonitorPrefix)) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake monitor %d never showed its command line", m.pid())
		}
	}
}

func (m *fakeMonitor) pid() int { return m.cmd.Process.Pid }

// kill ends the monitor and reaps it, so its PID no longer exists.
func (m *fakeMonitor) kill() {
	if m.cmd.ProcessState != nil {
		return
	}
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
}

// deadPID returns the PID of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatalf("failed to run true: %v", err)
	}
	return cmd.Process.Pid
}

// testPaths returns Paths rooted in a fresh temporary directory.
func testPaths(t *testing.T) Paths {
	t.Helper()
	return Paths{ConfigDir: t.TempDir(), Hostname: "node01", User: "alice"}
}
