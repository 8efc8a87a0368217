package instance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMonitorAliveDecision(t *testing.T) {
	monitor := []byte("Apptainer instance: root [web]\x00")
	tests := []struct {
		desc string
		look processLook
		want bool
	}{
		{"monitor", processLook{cmdline: monitor}, true},
		{"gone", processLook{gone: true}, false},
		{"zombie, or exited while we read", processLook{gone: true, cmdline: []byte{}}, false},
		{"exited after its command line was read", processLook{gone: true, cmdline: monitor}, false},
		{"recycled pid", processLook{cmdline: []byte("/usr/bin/bash\x00")}, false},
		{"prefix must start the line", processLook{cmdline: []byte("x Apptainer instance: root [web]")}, false},
		{"in execve: empty command line but not exited", processLook{cmdline: []byte{}}, true},
		{"cmdline hidden", processLook{cmdlineErr: os.ErrPermission}, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := monitorAlive(tt.look); got != tt.want {
				t.Errorf("monitorAlive(%+v) = %v, want %v", tt.look, got, tt.want)
			}
		})
	}
}

func TestStatState(t *testing.T) {
	for stat, want := range map[string]byte{
		"42 (sleep) S 1 42 42 0 -1":          'S',
		"42 (a) b) Z 1 42":                   'Z',
		"42 (Apptainer instance) R 1":        'R',
		"42 (x)":                             0,
		"garbage":                            0,
		"":                                   0,
		"7 (apptainer-engin) t 1 7 7 0 -1 4": 't',
	} {
		if got := statState([]byte(stat)); got != want {
			t.Errorf("statState(%q) = %q, want %q", stat, got, want)
		}
	}
}

// looks are the two ways of looking at the host; every real-process test
// runs with both, so the path for kernels without pidfds is tested too.
var looks = map[string]func(int) processLook{"pidfd": lookWithPidfd, "no pidfd": lookWithoutPidfd}

// withLook makes Alive use look until the test ends.
func withLook(t *testing.T, look func(int) processLook) {
	old := lookAtProcess
	lookAtProcess = look
	t.Cleanup(func() { lookAtProcess = old })
}

func TestAliveRealProcesses(t *testing.T) {
	for desc, look := range looks {
		t.Run(desc, func(t *testing.T) {
			withLook(t, look)
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
		})
	}
}

// TestAliveZombie: a monitor that exited but was not reaped yet is dead,
// although its PID still exists.
func TestAliveZombie(t *testing.T) {
	for desc, look := range looks {
		t.Run(desc, func(t *testing.T) {
			withLook(t, look)
			m := startMonitor(t, "zombie")
			f := &File{Name: "zombie", PPid: m.pid()}
			if !Alive(f) {
				t.Fatal("the monitor is not alive before it was killed")
			}
			if err := m.cmd.Process.Signal(unix.SIGKILL); err != nil {
				t.Fatal(err)
			}
			var info unix.Siginfo
			if err := unix.Waitid(unix.P_PID, m.pid(), &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
				t.Fatal(err)
			}
			if err := unix.Kill(m.pid(), 0); err != nil {
				t.Fatalf("the zombie's PID does not exist (%v): the test proves nothing", err)
			}
			if Alive(f) {
				t.Error("an exited, unreaped monitor counts as alive")
			}
		})
	}
}

// reexecEnv makes the test binary a process that executes itself again
// the number of times it holds, with a monitor's argv[0], as a monitor
// does when it becomes resident (see TestMain).
const reexecEnv = "APPTAINER_TEST_REEXEC"

func TestMain(m *testing.M) {
	if n := os.Getenv(reexecEnv); n != "" {
		left, err := strconv.Atoi(n)
		if err != nil || left <= 0 {
			os.Exit(0)
		}
		os.Setenv(reexecEnv, strconv.Itoa(left-1))
		env := os.Environ()
		err = unix.Exec("/proc/self/exe", []string{MonitorName("root", "reexec")}, env)
		os.Stderr.WriteString("re-exec failed: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestAliveWhileMonitorReexecs watches a process that executes itself
// over and over: it must count as alive at every look until it exits.
// Each execve has a moment in which /proc/<pid>/cmdline reads empty, and
// taking that for death is how a listing deleted the files of running
// instances whose monitors were becoming resident (issue 13).
func TestAliveWhileMonitorReexecs(t *testing.T) {
	for desc, look := range looks {
		t.Run(desc, func(t *testing.T) {
			withLook(t, look)
			cmd := exec.Command("/proc/self/exe")
			cmd.Args = []string{MonitorName("root", "reexec")}
			cmd.Env = append(os.Environ(), reexecEnv+"=400")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := cmd.Process.Pid
			// Until its first exec the child shows the test's command line.
			waitCmdline(t, pid)
			f := &File{Name: "reexec", PPid: pid}
			looks, deaths := 0, 0
			for {
				alive := Alive(f)
				looks++
				if !alive {
					if !exited(pid) {
						deaths++
						if deaths == 1 {
							t.Errorf("a running monitor was judged dead (look %d)", looks)
						}
					} else {
						break
					}
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("the re-executing process failed: %v", err)
			}
			if deaths > 0 {
				t.Errorf("%d of %d looks judged the running monitor dead", deaths, looks)
			}
			if looks < 400 {
				t.Logf("only %d looks during 400 execs", looks)
			}
		})
	}
}

// waitCmdline waits until pid shows a monitor's command line.
func waitCmdline(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) { // poll interval: /proc has no change notification
		if b, _ := readProc(pid, "cmdline"); bytes.HasPrefix(b, []byte(MonitorPrefix)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never showed a monitor's command line", pid)
		}
	}
}

// exited reports, without reaping, whether the child pid has exited: an
// exited child that was not waited for is a zombie.
func exited(pid int) bool {
	b, err := readProc(pid, "stat")
	return err != nil || statState(b) == 'Z'
}

func TestWaitGone(t *testing.T) {
	m := startMonitor(t, "waitgone")
	f := &File{Name: "waitgone", PPid: m.pid()}
	if WaitGone(f, 50*time.Millisecond) {
		t.Fatal("WaitGone reported a running monitor as gone")
	}
	exited := make(chan bool, 1)
	go func() { exited <- WaitGone(f, 10*time.Second) }()
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

func TestSignalMonitor(t *testing.T) {
	m := startMonitor(t, "sig")
	f := &File{Name: "sig", PPid: m.pid()}
	if err := SignalMonitor(f, unix.SIGTERM); err != nil {
		t.Fatalf("SignalMonitor: %v", err)
	}
	err := m.cmd.Wait()
	if ws, ok := m.cmd.ProcessState.Sys().(interface{ Signal() unix.Signal }); !ok || ws.Signal() != unix.SIGTERM {
		t.Errorf("the monitor did not die of SIGTERM: %v", err)
	}
	if err := SignalMonitor(f, unix.SIGTERM); !errors.Is(err, ErrMonitorGone) {
		t.Errorf("SignalMonitor on an exited monitor = %v, want ErrMonitorGone", err)
	}
	// A live process that is not a monitor (the test itself) is never
	// signalled.
	if err := SignalMonitor(&File{Name: "sig", PPid: os.Getpid()}, unix.SIGKILL); !errors.Is(err, ErrMonitorGone) {
		t.Errorf("SignalMonitor on a process that is no monitor = %v, want ErrMonitorGone", err)
	}
}

// TestSignalInitOnlyReachesTheMonitorsChild: SignalInit signals the PID 1
// a file names only if it is a child of the file's live monitor. A
// process that is not (the PID a forged file names) is neither signalled
// nor reported alive; the positive control signals the monitor's real
// child.
func TestSignalInitOnlyReachesTheMonitorsChild(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	// The monitor: a shell named like one, whose child sleeps.
	mon := &exec.Cmd{Path: sh, Args: []string{MonitorName("root", "sig"), "-c", "sleep 600 & echo $!; wait"}}
	out, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mon.Process.Kill(); _ = mon.Wait() }()
	var child int
	if _, err := fmt.Fscan(out, &child); err != nil {
		t.Fatal(err)
	}
	defer unix.Kill(child, unix.SIGKILL)
	stranger := exec.Command("sleep", "600")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stranger.Process.Kill(); _ = stranger.Wait() }()
	// The monitor's command line is there once its shell runs.
	for deadline := time.Now().Add(5 * time.Second); !Alive(&File{PPid: mon.Process.Pid}); time.Sleep(time.Millisecond) { // poll interval: /proc has no change notification
		if time.Now().After(deadline) {
			t.Fatal("the fake monitor never looked alive")
		}
	}

	forged := &File{Pid: stranger.Process.Pid, PPid: mon.Process.Pid}
	if InitAlive(forged) {
		t.Error("InitAlive took a process that is not the monitor's child for PID 1")
	}
	if err := SignalInit(forged, unix.SIGKILL); !errors.Is(err, ErrInitGone) {
		t.Errorf("SignalInit(stranger) = %v, want ErrInitGone", err)
	}
	if err := unix.Kill(stranger.Process.Pid, 0); err != nil {
		t.Errorf("the stranger is gone: %v", err)
	}

	real := &File{Pid: child, PPid: mon.Process.Pid}
	if !InitAlive(real) {
		t.Fatal("positive control: InitAlive does not see the monitor's child")
	}
	if err := SignalInit(real, unix.SIGKILL); err != nil {
		t.Fatalf("positive control: SignalInit(child) = %v", err)
	}
	// The shell reaps it; then it is gone for SignalInit too.
	for deadline := time.Now().Add(5 * time.Second); InitAlive(real); time.Sleep(time.Millisecond) { // poll interval: /proc has no change notification
		if time.Now().After(deadline) {
			t.Fatal("positive control: the child survived SIGKILL from SignalInit")
		}
	}
}
