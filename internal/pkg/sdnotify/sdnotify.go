// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) for `instance start` run as a Type=notify unit: it tells
// systemd which process lives as long as the instance (MAINPID=), when the
// instance is up (READY=1) and how the start goes (STATUS=).
package sdnotify

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/termtext"
)

// Env is the variable through which systemd hands a Type=notify service
// its notification socket.
const Env = "NOTIFY_SOCKET"

// Address checks the value of NOTIFY_SOCKET and returns the socket's
// address for net.UnixAddr: an absolute path, or an abstract name written
// with a leading '@' (as systemd writes it). systemd's other kinds
// (vsock:) are not for a service on the same machine.
func Address(v string) (string, error) {
	switch {
	case v == "":
		return "", errors.New(Env + " is empty")
	case strings.ContainsRune(v, 0):
		return "", fmt.Errorf("%s %q holds a NUL byte", Env, v)
	case len(v) > 107:
		// sun_path holds 108 bytes, the terminating NUL of a path included.
		return "", fmt.Errorf("%s %q is longer than a socket address", Env, v)
	case strings.HasPrefix(v, "/"), strings.HasPrefix(v, "@") && len(v) > 1:
		return v, nil
	}
	return "", fmt.Errorf("%s %q is neither an absolute path nor an abstract socket name (@NAME)", Env, v)
}

// Status is a STATUS= assignment for text: one line (systemd reads a
// message line by line) of printable characters, since systemctl shows it
// as it is; control characters are escaped as termtext does, and the text
// is cut at statusMax bytes.
func Status(text string) string {
	s := termtext.Line(text)
	if len(s) > statusMax {
		// A cut through a multi-byte character leaves a broken tail.
		s = strings.ToValidUTF8(s[:statusMax], "")
	}
	return "STATUS=" + s
}

// statusMax bounds a STATUS= text: progress lines can quote the image.
const statusMax = 240

// Ready is the message that hands the unit over to the process mainPID
// (the instance's monitor) and declares the service started, with a last
// status line.
func Ready(mainPID int, status string) string {
	return fmt.Sprintf("MAINPID=%d\nREADY=1\n%s", mainPID, Status(status))
}

// barrierTimeout bounds how long Barrier waits for systemd.
const barrierTimeout = 5 * time.Second
