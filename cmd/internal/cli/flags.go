package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagGroup says which commands a flag is registered on, as upstream's
// command groups do.
type flagGroup int

const (
	// groupActions: exec, run, shell.
	groupActions flagGroup = 1 << iota
	// groupInstance: instance start and instance run.
	groupInstance
	// groupAll: both of the above.
	groupAll = groupActions | groupInstance
)

// flagSpec describes one command-line flag as data: its name, shorthand,
// help, environment keys (looked up as APPTAINER_<KEY>, then
// SINGULARITY_<KEY>) and where its value goes. Values are bound to fields of
// the per-command options struct; there are no flag globals.
type flagSpec struct {
	Name, Short string
	Usage       string
	EnvKeys     []string
	Groups      flagGroup
	Hidden      bool
	// Unsupported flags are accepted by the parser (so scripts get a clear
	// message instead of "unknown flag") and refused when used.
	Unsupported bool
	// EnvAppend appends environment values to command-line values (--bind).
	EnvAppend bool
	// Var registers the flag on fs, bound into o.
	Var func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string)
}

// register adds the flags of group g to cmd, bound to o.
func register(cmd *cobra.Command, table []flagSpec, g flagGroup, o *actionOptions) {
	fs := cmd.Flags()
	for _, f := range table {
		if f.Groups&g == 0 {
			continue
		}
		f.Var(fs, o, f.Name, f.Short, f.Usage)
		if f.Hidden || f.Unsupported {
			_ = fs.MarkHidden(f.Name)
		}
		if len(f.EnvKeys) > 0 {
			_ = fs.SetAnnotation(f.Name, "envkey", f.EnvKeys)
		}
	}
}

// envLookup finds a flag's value in the environment, preferring
// APPTAINER_ over SINGULARITY_ with upstream's messages.
func envLookup(key string, getenv func(string) string, log *logger) (string, bool) {
	a, s := getenv("APPTAINER_"+key), getenv("SINGULARITY_"+key)
	switch {
	case a != "" && s != "" && a != s:
		log.Warningf("SINGULARITY_%s and APPTAINER_%s have different values, using the latter", key, key)
		return a, true
	case a != "":
		return a, true
	case s != "":
		log.Infof("Environment variable SINGULARITY_%s is set, but APPTAINER_%s is preferred", key, key)
		return s, true
	}
	return "", false
}

// applyEnv sets every flag of table that was not given on the command line
// from its environment keys, then refuses unsupported flags that were used.
func applyEnv(cmd *cobra.Command, table []flagSpec, getenv func(string) string, log *logger) error {
	fs := cmd.Flags()
	for _, f := range table {
		fl := fs.Lookup(f.Name)
		if fl == nil {
			continue
		}
		for _, key := range f.EnvKeys {
			v, ok := envLookup(key, getenv, log)
			if !ok {
				continue
			}
			if fl.Changed && !f.EnvAppend {
				break
			}
			values := []string{v}
			if f.EnvAppend {
				values = strings.Split(v, ",")
			}
			for _, val := range values {
				if err := fl.Value.Set(val); err != nil {
					return fmt.Errorf("invalid value %q for environment variable APPTAINER_%s: %w", v, key, err)
				}
			}
			fl.Changed = true
			break
		}
		if f.Unsupported && fl.Changed {
			return usageError{fmt.Errorf("--%s is not supported by this build", f.Name)}
		}
	}
	return nil
}

// usageError is an error in how a command was called: printed with the
// command's name and exit code 1, as cobra errors are upstream.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitError carries the exit code of a container process, or a chosen one.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// ExitCode returns the code main should exit with for err.
func ExitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 1
	}
	return 255
}
