package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConsoleLogRotates: a console that writes without end leaves at most
// the log and one rotated log of about max bytes each.
func TestConsoleLogRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.out")
	if err := os.WriteFile(path, []byte("an earlier instance's log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const max = 64 << 10
	l := newConsoleLog(path, max)
	line := []byte(strings.Repeat("x", 999) + "\n")
	for range 1000 { // about 1 MB, sixteen times max
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > max || fi.Size() == 0 {
			t.Errorf("%s holds %d bytes, want 1 to %d", p, fi.Size(), max)
		}
	}
	if left, _ := filepath.Glob(path + ".*"); len(left) != 1 {
		t.Errorf("rotated logs: %v, want just %s.1", left, path)
	}
	// Positive control: without a bound the same writes all stay.
	unbounded := filepath.Join(t.TempDir(), "other.out")
	u := newConsoleLog(unbounded, 0)
	for range 1000 {
		_, _ = u.Write(line)
	}
	if fi, err := os.Stat(unbounded); err != nil || fi.Size() != 1000*int64(len(line)) {
		t.Errorf("unbounded log: %v, %v", fi.Size(), err)
	}
}

// lockedBuffer is a bytes.Buffer safe for the copier and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConsoleHandover: pausing the console copier (before the monitor
// re-executes itself) loses nothing: what was read is logged, the rest
// waits in the pty for the next copier.
func TestConsoleHandover(t *testing.T) {
	c, err := openConsole(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var log lockedBuffer
	c.logTo(&log)
	if _, err := c.slave.Write([]byte("before\n")); err != nil {
		t.Fatal(err)
	}
	waitLogged := func(want string) {
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), want); time.Sleep(time.Millisecond) { // poll interval: the copier has no event to wait on
			if time.Now().After(deadline) {
				t.Fatalf("%q never reached the log: %q", want, log.String())
			}
		}
	}
	waitLogged("before")
	if !c.pauseLogging() {
		t.Fatal("the copier did not stop")
	}
	// Written while nobody copies: it must wait in the pty.
	if _, err := c.slave.Write([]byte("during\n")); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "during") {
		t.Fatal("the copier still ran after pauseLogging")
	}
	c.resumeLogging()
	waitLogged("during")
}
