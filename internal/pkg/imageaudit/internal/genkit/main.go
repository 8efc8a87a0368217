// Command genkit regenerates the network-overrides kit (etc/network-overrides)
// from the curated unit list in internal/pkg/hostnet. It is run by
// `go generate ./internal/pkg/imageaudit`; a unit test fails while the
// checked-in tree and the list disagree.
package main

import (
	"fmt"
	"os"

	"github.com/apptainer/apptainer/internal/pkg/imageaudit"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genkit KIT_DIR")
		os.Exit(2)
	}
	if err := imageaudit.SyncKitDir(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "genkit:", err)
		os.Exit(1)
	}
}
