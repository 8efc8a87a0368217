package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeManager is a notification socket that plays systemd: it records
// messages and, as systemd does, closes the descriptors of a BARRIER=1
// once it read that message. hold keeps it from reading.
type fakeManager struct {
	conn *net.UnixConn
	got  chan string
}

func newFakeManager(t *testing.T, addr string) *fakeManager {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &fakeManager{conn: conn, got: make(chan string, 16)}
}

// serve reads n messages.
func (f *fakeManager) serve(n int) {
	go func() {
		for range n {
			buf, oob := make([]byte, 4096), make([]byte, 256)
			k, oobn, _, _, err := f.conn.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, m := range msgs {
					if fds, err := unix.ParseUnixRights(&m); err == nil {
						for _, fd := range fds {
							unix.Close(fd)
						}
					}
				}
			}
			f.got <- string(buf[:k])
		}
	}()
}

func TestNotifierSendsAndBarrierWaits(t *testing.T) {
	for _, addr := range []string{filepath.Join(t.TempDir(), "notify"), "@apptainer-sdnotify-test-" + strings.ReplaceAll(t.Name(), "/", "-")} {
		f := newFakeManager(t, addr)
		t.Setenv(Env, addr)
		n, err := FromEnv()
		if err != nil || n == nil {
			t.Fatalf("FromEnv with %s: %v, %v", addr, n, err)
		}
		if _, set := os.LookupEnv(Env); set {
			t.Fatalf("FromEnv left %s in the environment", Env)
		}
		if err := n.Send(Ready(12, "up")); err != nil {
			t.Fatal(err)
		}
		f.serve(2)
		if err := n.Barrier(); err != nil {
			t.Fatalf("barrier with %s: %v", addr, err)
		}
		for _, want := range []string{"MAINPID=12\nREADY=1\nSTATUS=up", "BARRIER=1"} {
			select {
			case got := <-f.got:
				if got != want {
					t.Errorf("%s: got %q, want %q", addr, got, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: no message %q", addr, want)
			}
		}
	}
}

// TestBarrierWaitsForTheManager is the barrier's positive control: while
// the manager has not read the message, Barrier does not return success.
func TestBarrierWaitsForTheManager(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "notify")
	newFakeManager(t, addr) // never reads
	n := &Notifier{addr: addr}
	start := time.Now()
	if err := n.Barrier(); err == nil {
		t.Fatal("Barrier returned success although nothing read the message")
	}
	if time.Since(start) < barrierTimeout {
		t.Fatalf("Barrier gave up after %s, before its timeout", time.Since(start))
	}
}

func TestFromEnvUnset(t *testing.T) {
	t.Setenv(Env, "x")
	os.Unsetenv(Env)
	if n, err := FromEnv(); n != nil || err != nil {
		t.Fatalf("FromEnv without %s = %v, %v", Env, n, err)
	}
	var none *Notifier
	if err := none.Send("READY=1"); err != nil {
		t.Fatal(err)
	}
	if err := none.Barrier(); err != nil {
		t.Fatal(err)
	}
}
