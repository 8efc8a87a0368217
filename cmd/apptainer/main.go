// Command apptainer is the container runtime's command line. The same
// binary also runs the runtime's internal stages (monitor, container init,
// shim, join), which are dispatched before the CLI is built.
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
