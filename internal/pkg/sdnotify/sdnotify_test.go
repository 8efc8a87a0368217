package sdnotify

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAddress(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"/run/systemd/notify", "/run/systemd/notify", true},
		{"@/org/freedesktop/systemd1/notify/123", "@/org/freedesktop/systemd1/notify/123", true},
		{"", "", false},
		{"@", "", false},
		{"relative/notify", "", false},
		{"vsock:2:1234", "", false},
		{"/run/a\x00b", "", false},
		{"/" + strings.Repeat("x", 107), "", false},
		{"/" + strings.Repeat("x", 106), "/" + strings.Repeat("x", 106), true},
	} {
		got, err := Address(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Address(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestStatus: a status text from the image (systemd's STATUS= of the
// instance, the image path) cannot add a line, and so a field, to the
// message, nor put control characters on the admin's terminal.
func TestStatus(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"booting /sbin/init", "STATUS=booting /sbin/init"},
		{"x\nREADY=1", `STATUS=x\nREADY=1`},
		{"\x1b]0;owned\x07", `STATUS=\x1b]0;owned\x07`},
	} {
		if got := Status(tt.in); got != tt.want {
			t.Errorf("Status(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := Status(strings.Repeat("é", 500))
	if len(long) > len("STATUS=")+statusMax || !utf8.ValidString(long) || strings.Contains(long, "\n") {
		t.Errorf("a long status is %d bytes, valid UTF-8 %v", len(long), utf8.ValidString(long))
	}
}

func TestReady(t *testing.T) {
	got := Ready(4242, "demo: running\nMAINPID=1")
	want := "MAINPID=4242\nREADY=1\nSTATUS=demo: running\\nMAINPID=1"
	if got != want {
		t.Errorf("Ready = %q, want %q", got, want)
	}
}
