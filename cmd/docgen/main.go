// Command docgen writes apptainer's man pages and bash completion script
// from the CLI's command tree. The build runs it; it is not installed.
//
//	go run ./cmd/docgen -man DIR -completion FILE
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/apptainer/apptainer/cmd/docgen/internal/docs"
	"github.com/apptainer/apptainer/cmd/internal/cli"
	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
)

func main() {
	manDir := flag.String("man", "", "write section-1 man pages into `DIR`")
	completion := flag.String("completion", "", "write the bash completion script to `FILE`")
	flag.Parse()
	if flag.NArg() != 0 || (*manDir == "" && *completion == "") {
		fmt.Fprintln(os.Stderr, "usage: docgen [-man DIR] [-completion FILE]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if err := run(*manDir, *completion); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

func run(manDir, completion string) error {
	if manDir != "" {
		// Each writer gets a fresh tree: generating docs marks commands.
		if err := docs.WriteMan(cli.NewRootCommand(), manDir, buildcfg.Version); err != nil {
			return err
		}
	}
	if completion != "" {
		if err := docs.WriteBashCompletion(cli.NewRootCommand(), completion); err != nil {
			return err
		}
	}
	return nil
}
