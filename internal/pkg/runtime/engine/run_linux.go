package engine

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"golang.org/x/sys/unix"
)

// Run executes a container in the foreground (exec, run, shell) and returns
// the exit code of its process.
func Run(cfg *config.Config) (int, error) {
	return RunWith(cfg, os.Stdin, os.Stdout, os.Stderr)
}

// RunWith is Run with the container's standard streams given.
func RunWith(cfg *config.Config, stdin, stdout, stderr *os.File) (int, error) {
	// An ordinary user's container has no network to keep a reference of,
	// and could not write below RunRoot anyway.
	runDir := ""
	if !cfg.Unprivileged {
		var err error
		if runDir, err = execRunDir(); err != nil {
			return 255, err
		}
		defer os.RemoveAll(runDir)
	}

	// Signals meant for the container reach it through us when we are not
	// in a terminal's foreground group with it.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	defer signal.Stop(sigs)

	c, err := spawn(cfg, spawnOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr, RunDir: runDir})
	if err != nil {
		return 255, err
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = c.cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	ws, err := c.wait()
	close(done)
	if nerr := c.releaseNetwork(); nerr != nil {
		fmt.Fprintf(os.Stderr, "WARNING: %v\n", nerr)
	}
	if err != nil {
		return 255, err
	}
	return exitCode(ws), nil
}

// execRunDir makes the runtime directory of a foreground container.
func execRunDir() (string, error) {
	runDir, err := os.MkdirTemp(RunRoot(), "exec-")
	if err == nil {
		return runDir, nil
	}
	if err := os.MkdirAll(RunRoot(), 0o700); err != nil {
		return "", fmt.Errorf("failed to create %s: %w", RunRoot(), err)
	}
	if runDir, err = os.MkdirTemp(RunRoot(), "exec-"); err != nil {
		return "", fmt.Errorf("failed to create a runtime directory: %w", err)
	}
	return runDir, nil
}
