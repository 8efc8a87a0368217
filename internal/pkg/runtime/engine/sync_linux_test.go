package engine

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSyncMessagesRoundTrip(t *testing.T) {
	msgs := []syncMsg{
		goMsg(),
		execMsg(1700000000000000001, 1700000000000000000, "/usr/lib/systemd/systemd", ""),
		errorMsg(errors.New("failed to mount the image: no such device")),
		progressMsg("setting up network bridge"),
		resultMsg(&StartResult{Pid: 42, State: "running", Trace: []TracePoint{{"exec", 5}}}),
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := writeSync(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "\n"); n != len(msgs) {
		t.Fatalf("%d messages took %d lines:\n%s", len(msgs), n, buf.String())
	}
	r := newSyncReader(&buf)
	for i, want := range msgs {
		got, err := r.next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last message: %v, want EOF", err)
	}
}

func TestSyncReaderRefusesWhatIsNotAMessage(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"go", "not a runtime message"},
		{`{"progress":"untyped, as the old protocol sent"}`, `unknown message type ""`},
		{`{"type":"launch"}`, `unknown message type "launch"`},
		{`{"type":"error"}`, "an error message without an error"},
		{`{"type":"progress"}`, "a progress message without a line"},
		{`{"type":"result"}`, "a result message without a result"},
		{"panic: runtime error: " + strings.Repeat("x", 500), "..."},
	} {
		_, err := newSyncReader(strings.NewReader(tc.line + "\n")).next()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: error %v, want one containing %q", tc.line, err, tc.want)
		}
		if err != nil && len(err.Error()) > 400 {
			t.Errorf("%.40q: the error quotes %d bytes of the line", tc.line, len(err.Error()))
		}
	}
}

// TestReceiveGoOnlyOnGo: the stage goes on only on the monitor's go; an
// exec message, a stray line or a closed socket abort it.
func TestReceiveGoOnlyOnGo(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(w *os.File)
		ok   bool
	}{
		{"go", func(w *os.File) { _ = writeSync(w, goMsg()) }, true},
		{"exec", func(w *os.File) { _ = writeSync(w, execMsg(0, 0, "", "")) }, false},
		{"old literal", func(w *os.File) { _, _ = w.WriteString("go\n") }, false},
		{"closed", func(*os.File) {}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			monitor := os.NewFile(uintptr(pair[0]), "monitor")
			defer unix.Close(pair[1])
			tc.send(monitor)
			monitor.Close()
			err = receiveGo(fdConn(pair[1]))
			if (err == nil) != tc.ok {
				t.Errorf("receiveGo = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
