//go:build !linux

package instance

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// Instances run on Linux only. These stand-ins let the packages above this
// one (the CLI, the launcher's callers) build and be vetted on any
// platform; each reports that nothing is running.

// Alive reports false: no monitor runs off Linux.
func Alive(*File) bool { return false }

// SignalMonitor reports that the monitor is gone.
func SignalMonitor(*File, unix.Signal) error { return ErrMonitorGone }

// WaitGone reports that the monitor is gone.
func WaitGone(*File, time.Duration) bool { return true }

// SignalInit reports that PID 1 is gone.
func SignalInit(*File, unix.Signal) error { return ErrInitGone }

// InitAlive reports false.
func InitAlive(*File) bool { return false }

// ShareLock needs Linux's open file description locks.
type ShareLock struct{}

func AcquireShareLock(string, string) (*ShareLock, error) {
	return nil, errors.New("--sharens needs Linux")
}
func (*ShareLock) Join() error          { return nil }
func (*ShareLock) Leave() (bool, error) { return false, nil }
func (*ShareLock) Remove() error        { return nil }
func (*ShareLock) Close() error         { return nil }
