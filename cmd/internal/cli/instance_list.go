package cli

import (
	"errors"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/spf13/cobra"
)

type listOptions struct {
	user       string
	json, logs bool
	all        bool
}

func newInstanceListCommand() *cobra.Command {
	o := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list [list options...] [<instance name glob>]",
		Short: "List all running and named Apptainer instances",
		Example: `  apptainer instance list
  apptainer instance list --json 'node*'`,
		Args:                  cobra.MaximumNArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.json && o.logs {
				return errors.New("more than one flags have been set")
			}
			files, damaged, err := listMatching(o.user, args)
			if err != nil {
				return err
			}
			files = listed(files, o.all)
			w := cmd.OutOrStdout()
			switch {
			case o.json:
				err = instance.WriteJSON(w, files)
			case o.logs:
				err = instance.WriteLogsTable(w, files)
			default:
				err = instance.WriteTable(w, files)
			}
			if err != nil {
				return err
			}
			return damaged
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.user, "user", "u", "", "if running as root, list instances from \"<username>\"")
	f.BoolVarP(&o.json, "json", "j", false, "print structured json instead of list")
	f.BoolVarP(&o.logs, "logs", "l", false, "display location of stdout and sterr log files for instances")
	f.BoolVarP(&o.all, "all", "a", false, "list all instances (including sharens mode)")
	return cmd
}

// listed leaves out the instances of --sharens containers unless all: they
// are the containers' own, not ones a user started.
func listed(files []*instance.File, all bool) []*instance.File {
	if all {
		return files
	}
	var out []*instance.File
	for _, f := range files {
		if !f.ShareNSMode {
			out = append(out, f)
		}
	}
	return out
}
