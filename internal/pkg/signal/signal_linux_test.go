package signal

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want unix.Signal
	}{
		{"INT", unix.SIGINT},
		{"SIGINT", unix.SIGINT},
		{"sigint", unix.SIGINT},
		{"Term", unix.SIGTERM},
		{" KILL ", unix.SIGKILL},
		{"SIGSYS", unix.SIGSYS},
		{"PWR", unix.SIGPWR},
		{"IOT", unix.SIGABRT},
		{"SIGIOT", unix.SIGABRT},
		{"cld", unix.SIGCHLD},
		{"POLL", unix.SIGIO},
		{"1", unix.SIGHUP},
		{"15", unix.SIGTERM},
		{"09", unix.SIGKILL},
		{"32", 32},
		{"37", 37},
		{"64", 64},
		{"RTMIN", 34},
		{"SIGRTMIN", 34},
		{"rtmin+0", 34},
		{"RTMIN+3", 37},
		{"SIGRTMIN+3", 37},
		{"sigrtmin+4", 38},
		{"SIGRTMIN+30", 64},
		{"RTMAX", 64},
		{"SIGRTMAX", 64},
		{"RTMAX-0", 64},
		{"RTMAX-2", 62},
		{"SIGRTMAX-30", 34},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q) failed: %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"FOO", `unknown signal "FOO"`},
		{"SIGFOO", `unknown signal "SIGFOO"`},
		{"", `unknown signal ""`},
		{"SIG", `unknown signal "SIG"`},
		{"0", `signal number "0" is out of range (want 1 to 64)`},
		{"65", `signal number "65" is out of range (want 1 to 64)`},
		{"99999999999999999999999", `signal number "99999999999999999999999" is out of range`},
		{"-9", `unknown signal "-9"`},
		{"+9", `unknown signal "+9"`},
		{"RTMIN+31", `signal "RTMIN+31" is out of range: offset +31 is larger than 30`},
		{"SIGRTMAX-31", `signal "SIGRTMAX-31" is out of range: offset -31 is larger than 30`},
		{"RTMIN+", `unknown signal "RTMIN+"`},
		{"RTMIN-1", `unknown signal "RTMIN-1"`},
		{"RTMAX+1", `unknown signal "RTMAX+1"`},
		{"RTMIN+x", `unknown signal "RTMIN+x"`},
		{"RTMIN+ 3", `unknown signal "RTMIN+ 3"`},
		{"SIGSIGINT", `unknown signal "SIGSIGINT"`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %d, want error %q", tt.in, got, tt.wantErr)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.wantErr) {
			t.Errorf("Parse(%q) error = %q, want prefix %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestName(t *testing.T) {
	tests := []struct {
		sig  unix.Signal
		want string
	}{
		{unix.SIGINT, "SIGINT"},
		{unix.SIGABRT, "SIGABRT"},
		{unix.SIGCHLD, "SIGCHLD"},
		{unix.SIGSYS, "SIGSYS"},
		{32, "32"},
		{33, "33"},
		{34, "SIGRTMIN"},
		{37, "SIGRTMIN+3"},
		{63, "SIGRTMIN+29"},
		{64, "SIGRTMAX"},
		{0, "0"},
		{65, "65"},
	}
	for _, tt := range tests {
		if got := Name(tt.sig); got != tt.want {
			t.Errorf("Name(%d) = %q, want %q", tt.sig, got, tt.want)
		}
	}
}

// Every signal number the kernel can deliver must survive Name then Parse,
// so that what we print can be typed back.
func TestNameParseRoundTrip(t *testing.T) {
	for sig := unix.Signal(1); sig <= RTMax; sig++ {
		name := Name(sig)
		got, err := Parse(name)
		if err != nil {
			t.Errorf("Parse(Name(%d) = %q) failed: %v", sig, name, err)
			continue
		}
		if got != sig {
			t.Errorf("Parse(Name(%d) = %q) = %d", sig, name, got)
		}
	}
}
