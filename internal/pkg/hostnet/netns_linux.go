package hostnet

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// TakeInNetns takes a snapshot of the network namespace at nsPath (a
// /proc/PID/ns/net link or a bind mount of one, as under /run/netns).
//
// The work runs on a goroutine locked to its OS thread: the thread enters
// the namespace with setns(2), takes the snapshot and goes back to the
// namespace it came from. If going back fails, the goroutine returns with
// the thread still locked, and the Go runtime then ends that thread instead
// of reusing it, so no other goroutine can ever run in the wrong namespace.
// The calling goroutine and its thread are never moved.
func TakeInNetns(nsPath string, opts SnapshotOptions) (*Snapshot, error) {
	type result struct {
		snap *Snapshot
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		snap, restored, err := takeInNetns(nsPath, opts)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{snap, err}
	}()
	r := <-done
	return r.snap, r.err
}

// takeInNetns does TakeInNetns's work on a locked thread. restored reports
// whether the thread is back in its original namespace (or never left it).
func takeInNetns(nsPath string, opts SnapshotOptions) (snap *Snapshot, restored bool, err error) {
	orig, err := unix.Open(threadNetns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("failed to open the current network namespace: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("failed to open network namespace %q: %w", nsPath, err)
	}
	defer unix.Close(target)

	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("failed to enter network namespace %q: %w", nsPath, err)
	}
	snap, err = Take(opts)
	if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
		// The thread stays locked and dies with the goroutine.
		if err == nil {
			err = fmt.Errorf("failed to return from network namespace %q: %w", nsPath, rerr)
		}
		return nil, false, err
	}
	if err != nil {
		return nil, true, fmt.Errorf("failed to snapshot network namespace %q: %w", nsPath, err)
	}
	return snap, true, nil
}
