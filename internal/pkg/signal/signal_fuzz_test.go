package signal

import (
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParse feeds arbitrary text to the parser of `instance stop -s`.
// Whatever it accepts must be a real signal number, and the signal's
// canonical name must parse back to the same number.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"TERM", "sigkill", "9", "RTMIN+3", "RTMAX-30", "IOT", " 15 ", "", "RTMIN+-1", "0", "65"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := Parse(s)
		if err != nil {
			return
		}
		if sig < 1 || sig > RTMax {
			t.Fatalf("Parse(%q) = %d, outside 1..%d", s, sig, RTMax)
		}
		again, err := Parse(Name(sig))
		if err != nil || again != sig {
			t.Fatalf("Parse(Name(%d)=%q) = %d, %v", sig, Name(sig), again, err)
		}
		_ = unix.SignalName(sig)
	})
}
