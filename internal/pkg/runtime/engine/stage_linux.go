package engine

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/nsenter"
	"golang.org/x/sys/unix"
)

// processStart is when this process's Go code began: for a stage, close to
// its exec. Trace points are reported from it.
var processStart = time.Now()

// StageEnv names the stage a re-executed runtime binary runs.
const StageEnv = "_APPTAINER_STAGE"

const (
	stageContainer = "container"
	stageMonitor   = "monitor"
	stageResident  = "monitor-resident"
)

// File descriptors handed to a stage.
const (
	configFD = 3
	syncFD   = 4
	// stageExeFD is the engine binary the container stage was executed
	// from; the stage closes it.
	stageExeFD = 5
	// stageNsenterFD is apptainer-nsenter, handed to a container stage
	// whose process runs under a seccomp filter: it loads the filter and
	// executes the process (see execFiltered).
	stageNsenterFD = 6
	// stageCgroupFD is the container's cgroup, for a stage that attaches
	// its device policy itself (see stageFiles).
	stageCgroupFD = 7
)

// Stage runs the stage named in the environment and never returns when one
// is named; it returns false for a normal CLI start.
func Stage() bool {
	if req := os.Getenv(nsenter.EnvName); req != "" {
		// apptainer-nsenter consumes the variable. Still set, this
		// process was started directly rather than through it, and what
		// was meant to run inside the namespaces would run outside them.
		fmt.Fprintf(os.Stderr, "FATAL:   %s cannot enter namespaces: %s must be run through %s\n", os.Args[0], nsenter.EnvName, NsenterBinaryName)
		os.Exit(255)
	}
	stage := os.Getenv(StageEnv)
	if stage == "" {
		return false
	}
	// Keep the stage on one thread: children it clones are tied to the
	// thread that cloned them (Pdeathsig).
	runtime.LockOSThread()
	// Whether that is the process's main thread, which a monitor must
	// be on to re-execute itself (see becomeResident).
	onMainThread := unix.Gettid() == unix.Getpid()
	os.Unsetenv(StageEnv)
	var err error
	code := 1
	switch stage {
	case stageContainer:
		err = containerMain()
	case stageMonitor:
		code, err = monitorMain(onMainThread)
	case stageResident:
		code, err = residentMain()
	default:
		err = fmt.Errorf("unknown runtime stage %q", stage)
	}
	var reported reportedError
	if err != nil && !errors.As(err, &reported) {
		fmt.Fprintf(os.Stderr, "ERROR:   %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
	return true
}

// configPipe encodes cfg for a stage. The stage gets r as its configFD;
// send writes the config into the pipe and closes our end (call it once
// the stage runs, or abort on failure to close it unsent).
type configPipe struct {
	r, w *os.File
	blob []byte
}

func newConfigPipe(v interface{ Encode() ([]byte, error) }) (*configPipe, error) {
	blob, err := v.Encode()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &configPipe{r: r, w: w, blob: blob}, nil
}

// started closes the stage's end in this process.
func (p *configPipe) started() { p.r.Close() }

func (p *configPipe) send() error {
	_, err := p.w.Write(p.blob)
	if cerr := p.w.Close(); err == nil {
		err = cerr
	}
	return err
}

// sendWithin is send with a deadline: a stage that stops reading its
// config (a pipe holds 64 KiB) must not hold the sender forever.
func (p *configPipe) sendWithin(d time.Duration) error {
	_ = p.w.SetWriteDeadline(time.Now().Add(d))
	return p.send()
}

func (p *configPipe) abort() {
	p.r.Close()
	p.w.Close()
}
