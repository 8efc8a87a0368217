// Command apptainer is the container runtime's command line. Its C
// constructor joins running instances (and --netns-path namespaces) before
// Go starts. The runtime's stages (monitor, container init, shim) normally
// run from apptainer-engine; this binary contains them too, dispatched
// before the CLI is built, for when that binary is missing.
package main

import (
	"os"

	"github.com/apptainer/apptainer/cmd/internal/cli"
	_ "github.com/apptainer/apptainer/internal/pkg/nsenter/constructor" // enters namespaces before Go starts
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

func main() {
	if engine.Stage() {
		return
	}
	os.Exit(cli.Execute(os.Args[1:]))
}
