package engine

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSiginfoFields reads si_pid, si_status and si_code from real waitid
// results: an exit status and a signal.
func TestSiginfoFields(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		kill       bool
		wantStatus int
		wantCode   int32
	}{
		{[]string{"sh", "-c", "exit 7"}, false, 7, cldExited},
		{[]string{"sleep", "600"}, true, int(unix.SIGKILL), cldKilled},
	} {
		cmd := exec.Command(tt.args[0], tt.args[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if tt.kill {
			_ = cmd.Process.Kill()
		}
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
			t.Fatal(err)
		}
		if got := siginfoPid(&info); got != cmd.Process.Pid {
			t.Errorf("%v: si_pid %d, want %d", tt.args, got, cmd.Process.Pid)
		}
		if status, code := siginfoStatus(&info); status != tt.wantStatus || code != tt.wantCode {
			t.Errorf("%v: si_status %d, si_code %d, want %d, %d", tt.args, status, code, tt.wantStatus, tt.wantCode)
		}
		_ = cmd.Wait()
	}
}
