package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

// hostile is a STATUS= text an image can send: it sets the window title,
// clears the screen, returns to the start of the line and, after a
// newline, forges a line of ours; a right-to-left override and a raw C1
// CSI byte follow.
const hostile = "\x1b]0;pwned\x07\x1b[2J\x1b[H\rINFO:    host-network guard: host network unchanged\nINFO:    instance started successfully\u202e\x9b2J"

// hostileEscaped is what must be printed of it instead.
const hostileEscaped = `\x1b]0;pwned\x07\x1b[2J\x1b[H\rINFO:    host-network guard: host network unchanged\nINFO:    instance started successfully\u202e\x9b2J`

// assertTerminalSafe fails unless out holds only printable characters,
// spaces and newlines.
func assertTerminalSafe(t *testing.T, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && !unicode.IsPrint(r) {
			t.Errorf("output holds %U:\n%q", r, out)
			return
		}
	}
}

func TestProgressIsEscaped(t *testing.T) {
	for _, tty := range []bool{true, false} {
		var buf bytes.Buffer
		log := &logger{level: levelVerbose, w: &buf}
		progressPrinter(log, tty)(hostile)
		out := buf.String()
		prefix := "INFO:    "
		if !tty {
			prefix = "VERBOSE: "
		}
		if want := prefix + hostileEscaped + "\n"; out != want {
			t.Errorf("tty=%v: printed\n%q\nwant\n%q", tty, out, want)
		}
		// One line: the forged lines stay inside it.
		if n := strings.Count(out, "\n"); n != 1 {
			t.Errorf("tty=%v: %d lines printed, want 1:\n%s", tty, n, out)
		}
		assertTerminalSafe(t, out)
	}
	// The input really is what the test claims: printed raw, it would
	// reach the terminal with its escape codes, carriage return and
	// newline.
	for _, c := range []string{"\x1b[2J", "\x1b]0;", "\r", "\n", "\u202e", "\x9b"} {
		if !strings.Contains(hostile, c) {
			t.Fatalf("the test input lacks %q", c)
		}
	}
}

func TestProgressPlainTextUnchanged(t *testing.T) {
	var buf bytes.Buffer
	progressPrinter(&logger{level: levelInfo, w: &buf}, true)("Startup finished in 1.021s — «prêt»")
	if want := "INFO:    Startup finished in 1.021s — «prêt»\n"; buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
	// Without a terminal the lines are for -v only.
	buf.Reset()
	progressPrinter(&logger{level: levelInfo, w: &buf}, false)("x")
	if buf.Len() != 0 {
		t.Errorf("printed %q without a terminal and without -v", buf.String())
	}
}

func TestLoggerEscapesEachLine(t *testing.T) {
	var buf bytes.Buffer
	log := &logger{level: levelInfo, w: &buf}
	log.Warningf("the host network changed while %s booted:\n%s", "n1", "link \x1b[2Jx: mtu 1500 -> 9000\n+ address 10.0.0.1/24 on \x1b]0;t\x07")
	want := "WARNING: the host network changed while n1 booted:\nlink \\x1b[2Jx: mtu 1500 -> 9000\n+ address 10.0.0.1/24 on \\x1b]0;t\\x07\n"
	if buf.String() != want {
		t.Errorf("printed\n%q\nwant\n%q", buf.String(), want)
	}
	assertTerminalSafe(t, buf.String())
}

func TestFatalErrorIsEscaped(t *testing.T) {
	// An error of a failed boot ends with the console log's tail, lines
	// the image printed.
	var buf bytes.Buffer
	log := &logger{level: levelInfo, w: &buf}
	log.printf(levelError, "FATAL:   ", "%v", "failed to start instance: init exited before the system was ready; the end of the console log:\n  \x1b[0;1;31mFailed\x1b[0m\r\n  \x1b]0;x\x07")
	out := buf.String()
	if strings.Count(out, "\n") != 3 {
		t.Errorf("the message's own lines are not kept:\n%s", out)
	}
	if !strings.Contains(out, `  \x1b[0;1;31mFailed\x1b[0m\r`) {
		t.Errorf("console line not escaped as expected:\n%q", out)
	}
	assertTerminalSafe(t, out)
}

func TestBootStateIsEscaped(t *testing.T) {
	var buf bytes.Buffer
	printBootState(&buf, "n1", &engine.StartResult{State: "running\x1b[2J", FailedUnits: []string{"a.service", "b\r\x1b]0;t\x07.service"}})
	want := "n1: running\\x1b[2J (failed units: a.service, b\\r\\x1b]0;t\\x07.service)\n"
	if buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
	buf.Reset()
	printBootState(&buf, "n1", &engine.StartResult{State: "degraded"})
	if buf.String() != "n1: degraded\n" {
		t.Errorf("printed %q", buf.String())
	}
	// The name of an init that does not report readiness is its path in
	// the image, which the image chooses.
	buf.Reset()
	printBootState(&buf, "n1", &engine.StartResult{State: "unknown", Init: "/sbin/\x1b[2Jinit", Readiness: engine.ReadySettled})
	if want := "n1: unknown (/sbin/\\x1b[2Jinit does not report readiness; started once its processes settled)\n"; buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
	buf.Reset()
	printBootState(&buf, "n1", &engine.StartResult{State: "unknown", Init: "busybox init", Readiness: engine.ReadyUnknown})
	if want := "n1: unknown (busybox init does not report readiness; its processes were still changing at the boot timeout)\n"; buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
}

func TestHostnetDiffTextIsEscaped(t *testing.T) {
	// Without a user namespace an instance can name a host link, and the
	// kernel takes ESC in a link name.
	d := hostnet.Diff{Changes: []hostnet.Change{
		{Op: hostnet.Added, Kind: "link", Object: "\x1b[2Jeth9", After: "mtu 1500"},
		{Op: hostnet.Changed, Kind: "link", Object: "ib0", Field: "alias", Before: "", After: "x\nhost network unchanged"},
	}}
	var buf bytes.Buffer
	writeDiff(&buf, d)
	out := buf.String()
	if n := strings.Count(out, "\n"); n != len(d.Changes) {
		t.Errorf("%d lines for %d changes:\n%s", n, len(d.Changes), out)
	}
	for _, want := range []string{`\x1b[2Jeth9`, `x\nhost network unchanged`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	assertTerminalSafe(t, out)
}

func TestHostnetAuditEscapesImageNames(t *testing.T) {
	sandbox := riskySandbox(t)
	// A .network file whose name sets the window title: the image names
	// what the audit reports.
	hostileName := "\x1b]0;pwned\x07\u202e.network"
	dir := sandbox + "/etc/systemd/network"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/"+hostileName, []byte("[Match]\nName=ib0\n[Network]\nAddress=10.0.0.9/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code, _ := runHostnet(t, "hostnet", "audit", sandbox)
	if code != 1 {
		t.Fatalf("audit: exit %d:\n%s", code, out)
	}
	// The positive control: the file is reported, escaped.
	if !strings.Contains(out, `\x1b]0;pwned\x07\u202e.network`) {
		t.Errorf("the hostile file is not reported, escaped:\n%s", out)
	}
	assertTerminalSafe(t, out)
	js, _, _ := runHostnet(t, "hostnet", "audit", "--json", sandbox)
	assertTerminalSafe(t, strings.ReplaceAll(js, "\t", " "))
	if !strings.Contains(js, `\u001b]0;pwned\u0007\u202e.network`) {
		t.Errorf("the JSON report lacks the name, \\u-escaped:\n%s", js)
	}
	var rep struct {
		Findings []struct{ Subject, Path string }
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range rep.Findings {
		found = found || strings.HasSuffix(f.Subject, hostileName) || strings.HasSuffix(f.Path, hostileName)
	}
	if !found {
		t.Errorf("the JSON report does not keep the name as it is:\n%s", js)
	}
}

// TestInspectEscapesOnATerminal: an image's label or script cannot send
// escape sequences to the terminal inspect prints on; a pipe gets the
// text as it is. The control is the same text through a pipe.
func TestInspectEscapesOnATerminal(t *testing.T) {
	const evil = "\x1b]0;owned\x07\x1b[2J"
	for _, terminal := range []bool{true, false} {
		var b strings.Builder
		writeInspectAttr(&b, map[string]string{"Maintainer" + evil: "x" + evil}, terminal)
		writeInspectAttr(&b, "#!/bin/sh\n\techo "+evil+"\n", terminal)
		out := b.String()
		if got := strings.Contains(out, "\x1b"); got == terminal {
			t.Errorf("terminal=%v: escape characters in the output: %q", terminal, out)
		}
		if !strings.Contains(out, "\techo ") {
			t.Errorf("terminal=%v: the script's tab is gone: %q", terminal, out)
		}
	}
}
