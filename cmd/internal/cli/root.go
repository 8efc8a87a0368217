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
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
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
			// A configuration file the user named is checked by every
			// command, including those that do not read it.
			if src := configSource(cmd, os.Getenv, stderrLog); src.Chosen {
				if src.Path == "" {
					return usageError{errors.New("--config needs the path of a configuration file")}
				}
				if _, _, err := apptainerconf.Load(src.Path); err != nil {
					return err
				}
			}
			return nil
		},
	}
	root.SetVersionTemplate("apptainer version {{.Version}}\n")
	// The global flags go before the command, as upstream's: "apptainer
	// -d exec ...". Flags of the root command alone (read by traversing),
	// so that a command may use the same letters (inspect -d, exec -c).
	root.TraverseChildren = true
	gf := root.Flags()
	gf.BoolVarP(&debug, "debug", "d", false, "print debugging information (highest verbosity)")
	gf.BoolVarP(&verbose, "verbose", "v", false, "print additional information")
	gf.BoolVarP(&quiet, "quiet", "q", false, "suppress normal output")
	gf.BoolVarP(&silent, "silent", "s", false, "only print errors")
	gf.Bool("nocolor", false, "print without color output (default False)")
	// After the command, -c is exec's --contain.
	gf.StringP("config", "c", buildcfg.ConfFile(), "specify a configuration file (for root or unprivileged installation only)")
	_ = gf.SetAnnotation("config", "envkey", []string{"CONFIG_FILE"})
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
		newPullCommand(),
		newPushCommand(),
		newCacheCommand(),
		newRegistryCommand(),
		newInspectCommand(),
		newSIFCommand(),
		hostnet,
	)
	usageErrorsForArgs(root)
	return root
}

// usageErrorsForArgs makes a wrong number of arguments a usage error, as
// a wrong flag is: upstream prints the command's usage and exits 1.
func usageErrorsForArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageErrorsForArgs(sub)
	}
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
		fmt.Fprintf(os.Stderr, "Run '%s --help' for more detailed usage information.\n", cmd.Root().CommandPath())
		return 1
	}
	stderrLog.printf(levelError, "FATAL:   ", "%v", err)
	return ExitCode(err)
}

// confSource is where apptainer.conf is read from.
type confSource struct {
	Path string
	// Chosen: the user named the file (-c, APPTAINER_CONFIG_FILE), so a
	// missing file is an error, not a reason to use the built-in defaults.
	Chosen bool
}

// configSource resolves -c/--config, then APPTAINER_CONFIG_FILE (or
// SINGULARITY_CONFIG_FILE), then the installed file.
func configSource(cmd *cobra.Command, getenv func(string) string, log *logger) confSource {
	if fl := cmd.Root().Flags().Lookup("config"); fl != nil && fl.Changed {
		return confSource{Path: fl.Value.String(), Chosen: true}
	}
	if v, ok := envLookup("CONFIG_FILE", getenv, log); ok {
		return confSource{Path: v, Chosen: true}
	}
	return confSource{Path: buildcfg.ConfFile()}
}

// loadConfig reads apptainer.conf from src. A build that was never
// installed has no file; it runs with the built-in defaults, which equal
// the template. A file the user chose must exist.
func loadConfig(src confSource) (*apptainerconf.File, error) {
	if src.Path == "" {
		return nil, usageError{errors.New("--config needs the path of a configuration file")}
	}
	if _, err := os.Stat(src.Path); !src.Chosen && errors.Is(err, os.ErrNotExist) {
		stderrLog.Verbosef("%s not found, using built-in defaults", src.Path)
		return apptainerconf.Default(), nil
	}
	conf, warnings, err := apptainerconf.Load(src.Path)
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
