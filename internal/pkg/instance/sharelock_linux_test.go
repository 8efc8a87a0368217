package instance

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// acquireAsync takes the setup lock in a goroutine; OFD locks conflict
// between two opens of the file as between two processes.
func acquireAsync(t *testing.T, dir string) <-chan *ShareLock {
	got := make(chan *ShareLock, 1)
	go func() {
		l, err := AcquireShareLock(dir, "s1")
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	return got
}

func TestShareLock(t *testing.T) {
	dir := t.TempDir()
	first, err := AcquireShareLock(dir, "s1")
	if err != nil {
		t.Fatal(err)
	}
	// While the first sets up, nobody else may.
	probe, err := os.OpenFile(first.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	p := &ShareLock{f: probe, path: first.path}
	if err := p.set(unix.F_OFD_SETLK, unix.F_WRLCK, setupByte); !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
		t.Fatalf("the setup lock could be taken twice: %v", err)
	}
	pending := acquireAsync(t, dir)
	if err := first.Join(); err != nil {
		t.Fatal(err)
	}
	// Once the first runs its command, the second gets it (without the
	// first being done), and joins too.
	second := <-pending
	if err := second.Join(); err != nil {
		t.Fatal(err)
	}
	if last, err := first.Leave(); last || err != nil {
		t.Fatalf("Leave with another user: %v %v, want not last", last, err)
	}
	first.Close()
	if last, err := second.Leave(); !last || err != nil {
		t.Fatalf("Leave alone: %v %v, want last", last, err)
	}
	// A waiter that gets the lock of the removed file starts over with a
	// new one.
	waiting := acquireAsync(t, dir)
	if err := second.Remove(); err != nil {
		t.Fatal(err)
	}
	second.Close()
	third := <-waiting
	defer third.Close()
	if !third.current() {
		t.Error("the waiter holds the lock of the removed file")
	}
}
