package engine

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
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

// TestKeyringLeft: the caller's keys are left behind when the join worked,
// when the kernel has no keyrings, and when a filter refuses every keyring
// call (both calls EPERM); any other refusal is an error.
func TestKeyringLeft(t *testing.T) {
	for _, tt := range []struct {
		join, probe unix.Errno
		want        bool
	}{
		{0, 0, true},
		{unix.ENOSYS, 0, true},
		{unix.EPERM, unix.EPERM, true},
		// Only the join refused: an LSM or some rule aimed at it, with
		// the caller's keyring still reachable.
		{unix.EPERM, 0, false},
		{unix.EPERM, unix.ENOKEY, false},
		{unix.EDQUOT, 0, false},
		{unix.ENOMEM, unix.EPERM, false},
	} {
		if got := keyringLeft(tt.join, tt.probe); got != tt.want {
			t.Errorf("keyringLeft(%v, %v) = %v, want %v", tt.join, tt.probe, got, tt.want)
		}
	}
}

// TestLeaveSessionKeyringUnfiltered is the positive control of the
// nesting allowance: with no filter over keyctl, the process does get a
// new session keyring (another id than before).
func TestLeaveSessionKeyringUnfiltered(t *testing.T) {
	out, err := exec.Command("sh", "-c", "exec cat /proc/self/status").Output()
	if err != nil || !strings.Contains(string(out), "Seccomp:\t0") {
		t.Skip("this test process runs under a seccomp filter")
	}
	// A child process, so that this test binary keeps its keyring.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKeyring$")
	cmd.Env = append(os.Environ(), "APPTAINER_TEST_KEYRING_HELPER=1")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, b)
	}
	var before, after int
	if _, err := fmt.Sscanf(string(b), "%d %d", &before, &after); err != nil {
		t.Fatalf("helper said %q: %v", b, err)
	}
	if before == after {
		t.Fatalf("the session keyring is still %d after leaveSessionKeyring", before)
	}
}

// TestHelperKeyring runs only as the child of TestLeaveSessionKeyringUnfiltered.
func TestHelperKeyring(t *testing.T) {
	if os.Getenv("APPTAINER_TEST_KEYRING_HELPER") == "" {
		t.Skip("helper process only")
	}
	id := func() int {
		r, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, keySpecSessionKeyring, 1)
		if errno != 0 {
			fmt.Printf("error %v", errno)
			os.Exit(1)
		}
		return int(r)
	}
	before := id()
	if err := leaveSessionKeyring(); err != nil {
		fmt.Printf("error %v", err)
		os.Exit(1)
	}
	fmt.Printf("%d %d\n", before, id())
	os.Exit(0)
}
