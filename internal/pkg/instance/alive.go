package instance

import "errors"

// The liveness checks and signals live in alive_linux.go: they pin
// processes with pidfds and read /proc. Their errors are here so that
// callers on any platform can test for them.

// ErrMonitorGone is returned by SignalMonitor when the monitor has exited.
var ErrMonitorGone = errors.New("the instance monitor has exited")

// ErrInitGone is returned by SignalInit when the instance's PID 1 has
// exited, or when the PID recorded is no longer a child of its monitor.
var ErrInitGone = errors.New("the instance's PID 1 has exited")
