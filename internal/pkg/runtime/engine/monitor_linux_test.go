package engine

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	apptsignal "github.com/apptainer/apptainer/internal/pkg/signal"
	"golang.org/x/sys/unix"
)

// The test binary doubles as fake processes for the monitor and the
// container stage; helperEnv names the part it plays.
const helperEnv = "APPTAINER_ENGINE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "pid1":
		fakePID1()
	case "stage-exec":
		// A stage that announces its exec, then execs.
		_ = writeSync(fdConn(3), execMsg(0, 0, "", ""))
		err := unix.Exec("/bin/true", []string{"true"}, nil)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case "stage-error":
		_ = writeSync(fdConn(3), errorMsg(errors.New("failed to mount the image: no such device")))
		os.Exit(1)
	case "stage-killed":
		// Dies during setup without a word.
		_ = unix.Kill(os.Getpid(), unix.SIGKILL)
	case "stage-exits":
		os.Exit(3)
	case "notify-send":
		// Another process of the instance, claiming to be init.
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
		if err == nil {
			_, err = c.Write([]byte(os.Getenv("MESSAGE")))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "stage-hangs":
		// Stuck, as a stage on a hung file system; killed by the test.
		select {}
	}
	os.Exit(2)
}

// fakePID1 stands for an instance's PID 1: it waits for a stop signal,
// then writes the signal's name and the instance state it finds in the
// instance file to $RESULT, and exits.
func fakePID1() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, apptsignal.RTMin+3)
	os.WriteFile(os.Getenv("READY"), nil, 0o644)
	sig := <-sigs
	state := "unreadable"
	if f, err := instance.ReadFile(os.Getenv("INSTANCE_FILE")); err == nil {
		state = f.State
	}
	os.WriteFile(os.Getenv("RESULT"), []byte(apptsignal.Name(sig.(unix.Signal))+" "+state), 0o644)
	os.Exit(0)
}

// startHelper starts the test binary as helper role; extra descriptors
// become 3, 4, ...
func startHelper(t *testing.T, role string, env []string, files ...*os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// waitFile waits for a helper to create path.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) { // poll interval: nothing notifies a file's creation here
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
	}
}

// TestMonitorStopRequests sends SIGINT, SIGHUP and SIGTERM to the
// monitor (this process, where stopRequests catches them): each must
// record the instance as stopping, pass PID 1 the instance's stop signal
// (SIGINT; SIGRTMIN+3 for --boot), and once PID 1 exited, remove the
// instance file.
func TestMonitorStopRequests(t *testing.T) {
	for _, tt := range []struct {
		sig  unix.Signal
		boot bool
		want string
	}{
		{unix.SIGINT, false, "SIGINT"},
		{unix.SIGHUP, false, "SIGINT"},
		{unix.SIGTERM, false, "SIGINT"},
		{unix.SIGINT, true, "SIGRTMIN+3"},
		{unix.SIGHUP, true, "SIGRTMIN+3"},
	} {
		t.Run(fmt.Sprintf("%s boot=%v", apptsignal.Name(tt.sig), tt.boot), func(t *testing.T) {
			dir := t.TempDir()
			paths := instance.Paths{ConfigDir: dir, Hostname: "node", User: "alice"}
			cfg := &config.Config{Instance: &config.Instance{Name: "stopme", User: "alice", ConfigDir: dir}}
			if tt.boot {
				cfg.Boot = &config.Boot{StopSignal: int(apptsignal.RTMin + 3)}
			}
			file := &instance.File{Name: "stopme", User: "alice", PPid: os.Getpid(), State: instance.StateRunning}
			if err := paths.Create(file); err != nil {
				t.Fatal(err)
			}
			ready, result := filepath.Join(dir, "ready"), filepath.Join(dir, "result")
			pid1 := startHelper(t, "pid1", []string{"READY=" + ready, "RESULT=" + result, "INSTANCE_FILE=" + paths.FilePath("stopme")})
			waitFile(t, ready)
			file.Pid = pid1.Process.Pid
			m := &monitor{cfg: cfg, paths: paths, runDir: t.TempDir(), file: file, c: &container{cfg: cfg, pid: pid1.Process.Pid}, stopping: stopRequests()}
			defer signal.Stop(m.stopping)

			done := make(chan int, 1)
			go func() { done <- m.run() }()
			if err := unix.Kill(os.Getpid(), tt.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the monitor did not stop its instance")
			}
			pid1.Process.Release()
			got, err := os.ReadFile(result)
			if err != nil {
				t.Fatalf("PID 1 got no stop signal: %v", err)
			}
			if want := tt.want + " " + instance.StateStopping; string(got) != want {
				t.Errorf("PID 1 saw %q, want %q (its stop signal, and the instance recorded as stopping)", got, want)
			}
			if _, err := os.Stat(paths.FilePath("stopme")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the instance file is still there after the stop: %v", err)
			}
		})
	}
}

// TestWaitExec plays each way a container stage can end its setup.
func TestWaitExec(t *testing.T) {
	old := stageTimeout
	t.Cleanup(func() { stageTimeout = old })
	for _, tt := range []struct {
		role    string
		timeout time.Duration
		want    string // "" for success
	}{
		{"stage-exec", 30 * time.Second, ""},
		{"stage-error", 30 * time.Second, "failed to mount the image: no such device"},
		{"stage-killed", 30 * time.Second, "container process died during setup (killed by SIGKILL)"},
		{"stage-exits", 30 * time.Second, "container process died during setup (exit status 3)"},
		{"stage-hangs", 300 * time.Millisecond, "container process did not finish its setup within 300ms"},
	} {
		t.Run(tt.role, func(t *testing.T) {
			ours, theirs, err := syncPair()
			if err != nil {
				t.Fatal(err)
			}
			defer ours.Close()
			cmd := startHelper(t, tt.role, nil, theirs)
			theirs.Close()
			c := &container{cmd: cmd, pid: cmd.Process.Pid, sync: ours}
			if tt.role == "stage-killed" || tt.role == "stage-exits" {
				// Its exit must be collectable when the EOF arrives, as a
				// stage's is: wait until it is a zombie.
				var info unix.Siginfo
				if err := unix.Waitid(unix.P_PID, c.pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
					t.Fatal(err)
				}
			}
			err = c.waitExec(tt.timeout)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("waitExec = %v, want success", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("waitExec = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestSyncPairDeadline: the monitor's end of the sync socket must honour
// read deadlines (it is registered with the poller), or waitExec's bound
// would be a lie.
func TestSyncPairDeadline(t *testing.T) {
	ours, theirs, err := syncPair()
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	defer theirs.Close()
	if err := ours.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := ours.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read = %v, want a deadline error", err)
	}
	// The stage's end stays blocking: the stage reads it with plain calls.
	flags, err := unix.FcntlInt(theirs.Fd(), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_NONBLOCK != 0 {
		t.Errorf("the stage's end is non-blocking (flags %#x, %v)", flags, err)
	}
}

// TestStartTimeoutCoversEveryBound: the CLI's backstop must outlast the
// monitor's own bounds, or it would kill starts that were going to end.
func TestStartTimeoutCoversEveryBound(t *testing.T) {
	cfg := &config.Config{Boot: &config.Boot{Timeout: 5 * time.Minute}, Network: &config.Network{Networks: []string{"a", "b"}}}
	own := cfg.Boot.Timeout + 2*stageTimeout + cniTimeout*3
	if got := startTimeout(cfg); got <= own {
		t.Errorf("startTimeout = %s, not above the monitor's own bounds (%s)", got, own)
	}
}

// TestMonitorExitCode: the monitor exits 0 when the instance was stopped
// on request or halted cleanly by itself, and with PID 1's status
// otherwise (shell-style for a signal), so that a systemd unit fails when
// the instance crashed.
func TestMonitorExitCode(t *testing.T) {
	exited := func(code int) unix.WaitStatus { return unix.WaitStatus(code << 8) }
	killed := func(sig unix.Signal) unix.WaitStatus { return unix.WaitStatus(sig) }
	for _, tt := range []struct {
		name          string
		ws            unix.WaitStatus
		boot, stopped bool
		want          int
	}{
		{"booted init halted cleanly (systemd-shutdown exits 0)", exited(0), true, false, 0},
		{"booted init halted, ended by the kernel with SIGINT", killed(unix.SIGINT), true, false, 0},
		{"booted init killed", killed(unix.SIGKILL), true, false, 137},
		{"booted init segfaulted", killed(unix.SIGSEGV), true, false, 139},
		{"booted init exited with an error", exited(1), true, false, 1},
		{"booted init asked for a reboot (exit 133)", exited(133), true, false, 133},
		{"booted init asked for a reboot (SIGHUP)", killed(unix.SIGHUP), true, false, 129},
		{"booted init killed after instance stop", killed(unix.SIGKILL), true, true, 0},
		{"booted init exited with an error after instance stop", exited(1), true, true, 0},
		{"plain instance ended by itself", exited(0), false, false, 0},
		{"plain instance failed", exited(3), false, false, 3},
		{"plain instance's PID 1 killed by SIGINT unasked", killed(unix.SIGINT), false, false, 130},
		{"plain instance stopped", killed(unix.SIGINT), false, true, 0},
	} {
		if got := monitorExitCode(tt.ws, tt.boot, tt.stopped); got != tt.want {
			t.Errorf("%s: monitorExitCode = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestStopRequestMarker: NoteStopRequest leaves the mark stopWasRequested
// finds, in that instance's runtime directory only; a runtime directory
// that is gone is no error.
func TestStopRequestMarker(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	if stopWasRequested(dir) {
		t.Fatal("a fresh runtime directory reads as stopped on request")
	}
	if err := NoteStopRequest(&instance.File{Name: "a", RunDir: dir}); err != nil {
		t.Fatal(err)
	}
	if !stopWasRequested(dir) {
		t.Fatal("the stop request was not recorded")
	}
	if stopWasRequested(other) || stopWasRequested("") {
		t.Fatal("another runtime directory reads as stopped on request")
	}
	if err := NoteStopRequest(&instance.File{Name: "b", RunDir: filepath.Join(other, "gone")}); err != nil {
		t.Fatalf("a runtime directory that is gone: %v", err)
	}
}
