package engine

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNotifyOnlyFromInit: READY=1 and STATUS= count only from the process
// the listener expects (the instance's PID 1), as the kernel names it.
func TestNotifyOnlyFromInit(t *testing.T) {
	dir := t.TempDir()
	l, err := listenNotify(dir, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	send := func(msg string) {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// From another process of the instance: ignored. It has exited, and
	// its datagram is queued, before init's is sent.
	l.expect(os.Getpid())
	other := startHelper(t, "notify-send", []string{"NOTIFY_SOCKET=" + filepath.Join(dir, "notify"), "MESSAGE=STATUS=forged\nREADY=1"})
	if err := other.Wait(); err != nil {
		t.Fatalf("the other process could not send: %v", err)
	}
	send("STATUS=booting")
	select {
	case s := <-l.status:
		if s != "booting" {
			t.Errorf("first status seen = %q: the forged one got through", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the expected process's STATUS= was not seen")
	}
	select {
	case <-l.ready:
		t.Error("READY=1 from another process counted")
	default:
	}
	send("READY=1")
	select {
	case <-l.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("READY=1 from the expected process was not seen")
	}
}
