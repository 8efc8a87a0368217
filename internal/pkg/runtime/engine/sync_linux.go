package engine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// The runtime's processes talk over two channels, in messages of one
// line of JSON each, typed by their "type" field:
//
//	sync socket, between the monitor and the container stage it spawned:
//	  monitor → stage  syncGo      the stage's network, cgroups and (for a
//	                               user namespace) root are ready: go on
//	  stage → monitor  syncExec    the stage executes the container's
//	                               process next; end-of-file after it is
//	                               success
//	  stage → monitor  syncError   setup failed, and why
//
//	status pipe, from a starting monitor to `instance start`:
//	  monitor → CLI    syncProgress  a line for the user
//	  monitor → CLI    syncError     the start failed, and why
//	  monitor → CLI    syncResult    the instance runs
//
// writeSync is the one encoder and syncReader the one decoder; a reader
// refuses a message whose type is unknown or lacks what its type carries.
type syncType string

const (
	syncGo       syncType = "go"
	syncExec     syncType = "exec"
	syncError    syncType = "error"
	syncProgress syncType = "progress"
	syncResult   syncType = "result"
)

// syncMsg is one message. Only the fields of its type are set.
type syncMsg struct {
	Type syncType `json:"type"`
	// Error is syncError's reason.
	Error string `json:"error,omitempty"`
	// Progress is syncProgress's line.
	Progress string `json:"progress,omitempty"`
	// Result is syncResult's report.
	Result *StartResult `json:"result,omitempty"`
	// ExecAt is when the stage sent syncExec, StageAt when its Go code
	// began (Unix ns): the start trace's last steps.
	ExecAt  int64 `json:"execAt,omitempty"`
	StageAt int64 `json:"stageAt,omitempty"`
	// Init is, in syncExec of a boot, the path the image's /sbin/init
	// resolves to in the container, and InitProgram what its content
	// says it is (see IdentifyInit).
	Init        string `json:"init,omitempty"`
	InitProgram string `json:"initProgram,omitempty"`
}

func goMsg() syncMsg                     { return syncMsg{Type: syncGo} }
func errorMsg(err error) syncMsg         { return syncMsg{Type: syncError, Error: err.Error()} }
func progressMsg(line string) syncMsg    { return syncMsg{Type: syncProgress, Progress: line} }
func resultMsg(res *StartResult) syncMsg { return syncMsg{Type: syncResult, Result: res} }
func execMsg(execAt, stageAt int64, init, program string) syncMsg {
	return syncMsg{Type: syncExec, ExecAt: execAt, StageAt: stageAt, Init: init, InitProgram: program}
}

// check reports what is wrong with a decoded message.
func (m syncMsg) check() error {
	switch m.Type {
	case syncGo, syncExec:
		return nil
	case syncError:
		if m.Error == "" {
			return errors.New("an error message without an error")
		}
	case syncProgress:
		if m.Progress == "" {
			return errors.New("a progress message without a line")
		}
	case syncResult:
		if m.Result == nil {
			return errors.New("a result message without a result")
		}
	default:
		return fmt.Errorf("unknown message type %q", m.Type)
	}
	return nil
}

// writeSync sends m as one line.
func writeSync(w io.Writer, m syncMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// maxSyncLine bounds a message: a start result with its trace and the
// guard's report of a changed host network fits many times over.
const maxSyncLine = 4 << 20

// syncReader decodes the messages of one channel.
type syncReader struct{ sc *bufio.Scanner }

func newSyncReader(r io.Reader) *syncReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSyncLine)
	return &syncReader{sc: sc}
}

// next returns the next message; io.EOF when the channel closed after a
// whole message, and the reader's error (a deadline, say) as it is. A
// line that is not a valid message is an error that quotes it.
func (r *syncReader) next() (syncMsg, error) {
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			return syncMsg{}, err
		}
		return syncMsg{}, io.EOF
	}
	line := r.sc.Bytes()
	var m syncMsg
	err := json.Unmarshal(line, &m)
	if err == nil {
		err = m.check()
	}
	if err != nil {
		return syncMsg{}, fmt.Errorf("not a runtime message (%v): %q", err, truncate(strings.TrimSpace(string(line)), 200))
	}
	return m, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// fdConn is the stage's side of the sync socket: a descriptor it does not
// own, used with plain blocking calls.
type fdConn int

func (fd fdConn) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), b)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (fd fdConn) Write(b []byte) (int, error) { return unix.Write(int(fd), b) }
