package engine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"unsafe"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"golang.org/x/sys/unix"
)

// runShim turns the container stage itself into PID 1 of a non-booted
// instance (upstream's appinit) instead of exec'ing anything: the runtime
// binary cannot be exec'ed from inside an image that lacks its dynamic
// loader, and a process that is already running needs none.
func runShim(cfg *config.Config) error {
	if err := applyCredentials(cfg); err != nil {
		return err
	}
	os.Args = append([]string{"appinit"}, cfg.Spec.Process.Args...)
	os.Clearenv()
	for _, kv := range cfg.Spec.Process.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			_ = os.Setenv(k, v)
		}
	}
	// The sync socket closes here, as an exec would close it: the
	// monitor takes that as "started".
	announceExec(cfg, "")
	_ = unix.Close(syncFD)
	code, err := shimMain()
	if err != nil {
		return err
	}
	os.Exit(code)
	return nil
}

// shimMain is PID 1 of a non-booted instance. SIGINT or SIGTERM (instance
// stop) ends it: the script gets the signal first, and the instance ends
// when PID 1 exits.
func shimMain() (int, error) {
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte("appinit\x00")[0])), 0, 0, 0)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGCHLD)
	var child *exec.Cmd
	if len(os.Args) > 1 {
		child = exec.Command(os.Args[1], os.Args[2:]...)
		child.Stdout, child.Stderr = os.Stdout, os.Stderr
		child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := child.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "ERROR:   failed to run %s: %v\n", os.Args[1], err)
			child = nil
		}
	}
	for sig := range sigs {
		if sig == unix.SIGCHLD {
			reap()
			continue
		}
		if child != nil && child.Process != nil {
			_ = unix.Kill(-child.Process.Pid, sig.(unix.Signal))
		}
		return 0, nil
	}
	return 0, nil
}

// reap collects every exited child, the script's orphans included.
func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || errors.Is(err, unix.ECHILD) {
			return
		}
	}
}
