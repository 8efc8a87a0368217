package cli

import (
	"fmt"
	"io"
	"os"
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

// logger prints upstream-style prefixed messages to stderr.
type logger struct {
	level logLevel
	w     io.Writer
}

var stderrLog = &logger{level: levelInfo, w: os.Stderr}

func (l *logger) printf(min logLevel, prefix, format string, args ...any) {
	if l.level >= min {
		fmt.Fprintf(l.w, prefix+format+"\n", args...)
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
