package cli

import (
	"github.com/spf13/cobra"
	"github.com/sylabs/sif/v2/pkg/siftool"
)

// newSIFCommand is `apptainer sif`: the SIF library's own siftool
// commands (list, header, info, dump, ...), as upstream wires them, so the
// output matches upstream byte for byte.
func newSIFCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sif",
		Short: "Manipulate Singularity Image Format (SIF) images",
		Long:  "A set of commands to inspect and modify the data objects of a SIF image.",
		Example: `  apptainer sif list debian.sif
  apptainer sif header debian.sif`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	// AddCommands fails only on an invalid option, and none is passed.
	_ = siftool.AddCommands(cmd)
	return cmd
}
