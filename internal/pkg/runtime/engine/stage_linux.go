package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// StageEnv names the stage a re-executed runtime binary runs.
const StageEnv = "_APPTAINER_STAGE"

const (
	stageContainer = "container"
	stageMonitor   = "monitor"
	stageJoin      = "join"
)

// File descriptors handed to a stage.
const (
	configFD = 3
	syncFD   = 4
)

// Stage runs the stage named in the environment and never returns when one
// is named; it returns false for a normal CLI start.
func Stage() bool {
	stage := os.Getenv(StageEnv)
	if stage == "" {
		return false
	}
	os.Unsetenv(StageEnv)
	var err error
	code := 1
	switch stage {
	case stageContainer:
		err = containerMain()
	case stageMonitor:
		code, err = monitorMain()
	case stageJoin:
		code, err = joinMain()
	default:
		err = fmt.Errorf("unknown runtime stage %q", stage)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR:   %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
	return true
}

// stageMessage travels on the sync socket and the status pipe.
type stageMessage struct {
	// Progress is a line for the user while an instance starts.
	Progress string `json:"progress,omitempty"`
	// Error ends a failed start.
	Error string `json:"error,omitempty"`
	// Result ends a successful start.
	Result *StartResult `json:"result,omitempty"`
}

func writeMessage(w io.Writer, m stageMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// execPath is the runtime binary re-executed for every stage.
func execPath() string { return "/proc/self/exe" }
