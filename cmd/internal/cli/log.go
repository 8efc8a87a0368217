package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/apptainer/apptainer/internal/pkg/termtext"
)

// logLevel follows upstream's verbosity flags: -s shows only errors, -q
// hides INFO, -v and -d show more.
type logLevel int

const (
	levelError logLevel = iota - 2
	levelWarning
	levelInfo
	levelVerbose
	levelDebug
)

// logger prints upstream-style prefixed messages to stderr. Every message
// is escaped line by line (termtext.Lines) as it is printed: messages
// quote text that containers choose (systemd's STATUS=, unit names,
// console lines, interface names), which must not reach the terminal as
// control sequences. The message's own newlines are kept; text from a
// container that must stay on one line is escaped with termtext.Line
// where it is formatted in.
type logger struct {
	level logLevel
	w     io.Writer
}

var stderrLog = &logger{level: levelInfo, w: os.Stderr}

func (l *logger) printf(min logLevel, prefix, format string, args ...any) {
	if l.level >= min {
		fmt.Fprint(l.w, prefix+termtext.Lines(fmt.Sprintf(format, args...))+"\n")
	}
}

func (l *logger) Errorf(format string, args ...any) {
	l.printf(levelError, "ERROR:   ", format, args...)
}
func (l *logger) Warningf(format string, args ...any) {
	l.printf(levelWarning, "WARNING: ", format, args...)
}
func (l *logger) Infof(format string, args ...any) { l.printf(levelInfo, "INFO:    ", format, args...) }
func (l *logger) Verbosef(format string, args ...any) {
	l.printf(levelVerbose, "VERBOSE: ", format, args...)
}
func (l *logger) Debugf(format string, args ...any) {
	l.printf(levelDebug, "DEBUG:   ", format, args...)
}
