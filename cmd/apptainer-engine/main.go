// Command apptainer-engine runs the runtime's stages (the instance monitor
// and the container stage) for the apptainer CLI. It is built static and
// holds only the engine, so each stage starts faster and a monitor keeps
// less memory resident than it would as a copy of the whole CLI. It is not
// meant to be run by hand.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

// The main goroutine stays on the main thread: a monitor later re-executes
// itself, which must happen on the thread that cloned the instance's PID 1
// (see engine.Stage).
//
// Heap profiling is off: nobody profiles a monitor, and its sampling
// tables would be a monitor's largest allocation.
func init() {
	runtime.LockOSThread()
	runtime.MemProfileRate = 0
}

func main() {
	if engine.Stage() {
		return
	}
	fmt.Fprintln(os.Stderr, "apptainer-engine runs the stages of the apptainer runtime and is not meant to be run directly; use apptainer")
	os.Exit(2)
}
