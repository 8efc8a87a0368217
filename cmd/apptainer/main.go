// Command apptainer is the container runtime's command line. It is pure Go
// and static: namespaces of running instances are entered by
// apptainer-nsenter, and the runtime's stages (monitor, container init,
// shim) run from apptainer-engine. This binary contains the stages too,
// dispatched before the CLI is built, for when that binary is missing.
package main

import (
	"os"

	"github.com/apptainer/apptainer/cmd/internal/cli"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

func main() {
	if engine.Stage() {
		return
	}
	os.Exit(cli.Execute(os.Args[1:]))
}
