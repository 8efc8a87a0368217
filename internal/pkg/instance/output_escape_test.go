package instance

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
)

// hostileFile is an instance file a user wrote by hand into their own
// store: `instance list -u USER` shows it on root's terminal.
var hostileFile = &File{Name: "n\x1b[2J", Pid: 7, IP: "10.0.0.1\r", Image: "/img\x1b]0;t\x07\u202e",
	LogErrPath: "/l/e\x1b[1A.err", LogOutPath: "/l/o\n.out", State: "running\x1b[31m"}

func assertPrintable(t *testing.T, what, s string, allowed ...rune) {
	t.Helper()
	for _, r := range s {
		if !unicode.IsPrint(r) && !strings.ContainsRune(string(allowed), r) {
			t.Errorf("%s holds %U:\n%q", what, r, s)
			return
		}
	}
}

func TestListOutputsAreEscaped(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, []*File{hostileFile}); err != nil {
		t.Fatal(err)
	}
	assertPrintable(t, "table", buf.String(), '\n')
	if !strings.Contains(buf.String(), `n\x1b[2J`) || !strings.Contains(buf.String(), `/img\x1b]0;t\x07\u202e`) {
		t.Errorf("table does not show the fields escaped:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteLogsTable(&buf, []*File{hostileFile}); err != nil {
		t.Fatal(err)
	}
	assertPrintable(t, "logs table", buf.String(), '\n')
	if strings.Count(buf.String(), "\n") != 3 {
		t.Errorf("a field added a line:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteJSON(&buf, []*File{hostileFile}); err != nil {
		t.Fatal(err)
	}
	assertPrintable(t, "JSON", buf.String(), '\n', '\t')
	// The values themselves are unchanged.
	var got struct {
		Instances []listEntry `json:"instances"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if e := got.Instances[0]; e.Instance != hostileFile.Name || e.Img != hostileFile.Image || e.State != hostileFile.State || e.LogOutPath != hostileFile.LogOutPath {
		t.Errorf("JSON values changed: %+v", e)
	}
}
