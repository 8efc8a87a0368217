// Package cli is the apptainer command line: one file per command, the
// action flags in one table (action_flags.go), and no flag globals.
package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
	"github.com/apptainer/apptainer/internal/pkg/termtext"
	"github.com/spf13/cobra"
)

// processStart is when this process started, as close to exec as Go
// allows; the runtime's own start time is measured from here.
var processStart = time.Now()

// NewRootCommand builds the whole command tree.
func NewRootCommand() *cobra.Command {
	var debug, verbose, quiet, silent bool
	root := &cobra.Command{
		Use:   "apptainer",
		Short: "Linux container platform optimized for High Performance Computing (HPC) and Enterprise Performance Computing (EPC)",
		Long: `Apptainer runs containers from sandbox images, manages instances, and boots
systemd images as instances (--boot), on their own network or, with
--boot-hostnet, on the host network with safeguards.`,
		Version:       buildcfg.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			switch {
			case debug:
				stderrLog.level = levelDebug
			case verbose:
				stderrLog.level = levelVerbose
			case silent:
				stderrLog.level = levelError
			case quiet:
				stderrLog.level = levelWarning
			}
		},
	}
	root.SetVersionTemplate("apptainer version {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.BoolVarP(&debug, "debug", "d", false, "print debugging information (highest verbosity)")
	pf.BoolVarP(&verbose, "verbose", "v", false, "print additional information")
	pf.BoolVarP(&quiet, "quiet", "q", false, "suppress normal output")
	pf.BoolVar(&silent, "silent", false, "only print errors")
	pf.Bool("nocolor", false, "print without color output (default False)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	hostnet := newHostnetCommand()
	hostnet.AddCommand(newHostnetDiffCommand())
	root.AddCommand(
		newVersionCommand(),
		newActionCommand(actionExec),
		newActionCommand(actionRun),
		newActionCommand(actionShell),
		newInstanceCommand(),
		newBuildCommand(),
		newInspectCommand(),
		newSIFCommand(),
		hostnet,
	)
	return root
}

// Execute runs the CLI and returns the process exit code.
func Execute(args []string) int {
	root := NewRootCommand()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) && ee.err == nil {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "Error for command %q: %s\n\n", cmd.Name(), termtext.Lines(ue.Error()))
		fmt.Fprint(os.Stderr, cmd.UsageString())
		return 1
	}
	stderrLog.printf(levelError, "FATAL:   ", "%v", err)
	return ExitCode(err)
}

// loadConfig reads apptainer.conf. A build that was never installed has
// no file; it runs with the built-in defaults, which equal the template.
func loadConfig() (*apptainerconf.File, error) {
	path := buildcfg.ConfFile()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		stderrLog.Verbosef("%s not found, using built-in defaults", path)
		return apptainerconf.Default(), nil
	}
	conf, warnings, err := apptainerconf.Load(path)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		stderrLog.Warningf("%s", w.String())
	}
	return conf, nil
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the version for Apptainer",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), buildcfg.Version)
		},
	}
}
