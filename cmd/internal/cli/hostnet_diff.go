package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
	"github.com/apptainer/apptainer/internal/pkg/termtext"
	"github.com/spf13/cobra"
)

// newHostnetDiffCommand shows, on demand, how the host's network state
// differs from what it was when a --boot-hostnet instance started.
func newHostnetDiffCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff [--json] <instance name>",
		Short: "Show how the host network changed since a --boot-hostnet instance started",
		Long: `Compare the host's network state now (links, addresses, routes, policy
rules, the netfilter ruleset, net.* sysctls, resolv.conf and listening
sockets) with the snapshot the instance's monitor took before it started.
Exit status: 0 unchanged, 1 changed, 2 error.`,
		Example:               "  apptainer hostnet diff node1\n  apptainer hostnet diff --json node1",
		Args:                  cobra.ExactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := instancePaths("")
			if err != nil {
				return exitError{code: 2, err: err}
			}
			listed, err := paths.Get(args[0])
			if err != nil {
				return exitError{code: 2, err: err}
			}
			f, err := trustedInstance(paths, listed)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			diff, err := engine.HostnetDiff(f)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				b, err := json.MarshalIndent(diff, "", "\t")
				if err != nil {
					return exitError{code: 2, err: err}
				}
				// The same values, with the characters a terminal acts on
				// as \u escapes: objects can be named from inside.
				fmt.Fprintln(w, string(termtext.JSON(b)))
			} else if diff.Empty() {
				fmt.Fprintf(w, "host network unchanged since %s started\n", f.Name)
			} else {
				writeDiff(w, diff)
			}
			if !diff.Empty() {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "print the changes as JSON")
	return cmd
}

// writeDiff prints one change a line. What a change names can come from
// the instance (an interface or its alias, a firewall rule's comment, a
// line of resolv.conf): each change is escaped so that it stays one line
// that only shows itself.
func writeDiff(w io.Writer, diff hostnet.Diff) {
	for _, c := range diff.Changes {
		fmt.Fprintln(w, termtext.Line(c.String()))
	}
}
