// Package signal converts between signal names as users type them (on the
// command line of `instance stop --signal`, or in configuration) and signal
// numbers.
//
// Upstream Apptainer only understands the classic signals 1–31, because
// golang.org/x/sys has no names for real-time signals. A booted systemd
// instance must be halted with SIGRTMIN+3, so this package also accepts the
// real-time forms and every number the kernel can deliver.
package signal

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The real-time range as user space sees it on Linux. The kernel's own
// SIGRTMIN is 32, but glibc and musl reserve 32 and 33 for their threading
// implementation, so every tool (kill, systemctl, podman) counts RTMIN+N
// from 34. systemd documents its signals in those terms.
const (
	RTMin unix.Signal = 34
	RTMax unix.Signal = 64
)

// aliases are the historical second names of classic signals that
// upstream accepts too.
var aliases = map[string]unix.Signal{
	"SIGIOT":  unix.SIGABRT,
	"SIGCLD":  unix.SIGCHLD,
	"SIGPOLL": unix.SIGIO,
}

// Parse converts a signal given by name or number into its number.
//
// Accepted forms, case-insensitive and with or without the "SIG" prefix:
// classic names (INT, SIGTERM), the aliases IOT, CLD and POLL, decimal
// numbers 1 to 64, and the real-time names RTMIN, RTMIN+N, RTMAX and
// RTMAX-N with N between 0 and 30.
func Parse(s string) (unix.Signal, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	if isDigits(in) {
		n, err := strconv.Atoi(in)
		if err != nil || n < 1 || n > int(RTMax) {
			return 0, fmt.Errorf("signal number %q is out of range (want 1 to %d)", s, int(RTMax))
		}
		return unix.Signal(n), nil
	}

	name := strings.ToUpper(in)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	if sig, ok := aliases[name]; ok {
		return sig, nil
	}
	if sig, ok, err := parseRealtime(name); ok {
		if err != nil {
			return 0, fmt.Errorf("signal %q is out of range: %w", s, err)
		}
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// parseRealtime handles the SIGRTMIN/SIGRTMAX forms of an upper-cased name
// that already carries the SIG prefix. ok reports whether the name had a
// real-time form at all, so that the caller can tell "unknown" from "out of
// range".
func parseRealtime(name string) (sig unix.Signal, ok bool, err error) {
	base, sign, offset := RTMin, "+", ""
	switch {
	case name == "SIGRTMIN":
		return RTMin, true, nil
	case name == "SIGRTMAX":
		return RTMax, true, nil
	case strings.HasPrefix(name, "SIGRTMIN+"):
		offset = strings.TrimPrefix(name, "SIGRTMIN+")
	case strings.HasPrefix(name, "SIGRTMAX-"):
		base, sign, offset = RTMax, "-", strings.TrimPrefix(name, "SIGRTMAX-")
	default:
		return 0, false, nil
	}
	if !isDigits(offset) {
		return 0, false, nil
	}
	limit := int(RTMax - RTMin)
	n, convErr := strconv.Atoi(offset)
	if convErr != nil || n > limit {
		return 0, true, fmt.Errorf("offset %s%s is larger than %d", sign, offset, limit)
	}
	if sign == "-" {
		return base - unix.Signal(n), true, nil
	}
	return base + unix.Signal(n), true, nil
}

// Name returns the conventional name of sig: "SIGINT" for classic signals,
// "SIGRTMIN", "SIGRTMIN+N" and "SIGRTMAX" for real-time ones (the spelling
// systemd uses in its documentation). Numbers without a name, such as 32
// and 33, come back as decimal strings, which Parse accepts again.
func Name(sig unix.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	switch {
	case sig == RTMin:
		return "SIGRTMIN"
	case sig == RTMax:
		return "SIGRTMAX"
	case sig > RTMin && sig < RTMax:
		return "SIGRTMIN+" + strconv.Itoa(int(sig-RTMin))
	}
	return strconv.Itoa(int(sig))
}

// isDigits reports whether s is a non-empty run of ASCII digits. It keeps
// strconv from accepting signs ("+3", "-9") as numbers.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
