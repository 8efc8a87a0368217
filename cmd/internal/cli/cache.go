package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/apptainer/apptainer/internal/pkg/imgcache"
)

func newCacheCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Manage the local cache",
		Long: `Manage the image cache, $APPTAINER_CACHEDIR/cache (by default
~/.apptainer/cache). This build keeps the layers of registry images there (type
"blob"), the SIF files pulled from oras:// references (type "oras") and the SIF
files exec, run and shell make of OCI images (type "oci-tmp"); the other types
are upstream's and are listed and cleaned as well.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCacheListCommand(), newCacheCleanCommand())
	return cmd
}

func newCacheListCommand() *cobra.Command {
	var types []string
	var verbose bool
	cmd := &cobra.Command{
		Use:                   "list [list options...]",
		Short:                 "List your local apptainer cache",
		Args:                  cobra.NoArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := imgcache.ParseTypes(types)
			if err != nil {
				return usageError{err}
			}
			entries, err := imgcache.Cache{Root: cacheRoot(os.Getenv)}.Entries(ts)
			if err != nil {
				return err
			}
			printCacheList(cmd.OutOrStdout(), ts, entries, verbose)
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&types, "type", "T", []string{"all"}, "a list of cache types to display, possible entries: library, oci, shub, blob(s), oras, all")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "include cache entries in the output")
	return cmd
}

// printCacheList prints upstream's listing: with verbose a table of the
// entries, then the counts of SIF files and blobs and the total.
func printCacheList(w io.Writer, types []string, entries []imgcache.Entry, verbose bool) {
	if verbose {
		fmt.Fprintf(w, "%-24s %-22s %-16s %s\n", "NAME", "DATE CREATED", "SIZE", "TYPE")
	}
	var files, blobs int
	var fileSize, blobSize int64
	for _, e := range entries {
		if verbose {
			fmt.Fprintf(w, "%-24.22s %-22s %-16s %s\n", e.Name, e.Modified.Format("2006-01-02 15:04:05"), imgcache.HumanSize(e.Size), e.Type)
		}
		if e.Type == imgcache.TypeBlob {
			blobs++
			blobSize += e.Size
		} else {
			files++
			fileSize += e.Size
		}
	}
	if verbose {
		fmt.Fprintln(w)
	}
	var parts []string
	for _, t := range types {
		if t != imgcache.TypeBlob {
			parts = append(parts, fmt.Sprintf("%d container file(s) using %s", files, imgcache.HumanSize(fileSize)))
			break
		}
	}
	for _, t := range types {
		if t == imgcache.TypeBlob {
			parts = append(parts, fmt.Sprintf("%d oci blob file(s) using %s", blobs, imgcache.HumanSize(blobSize)))
		}
	}
	fmt.Fprintf(w, "There are %s of space\n", strings.Join(parts, " and "))
	fmt.Fprintf(w, "Total space used: %s\n", imgcache.HumanSize(fileSize+blobSize))
}

func newCacheCleanCommand() *cobra.Command {
	var types []string
	var days int
	var dryRun, force bool
	cmd := &cobra.Command{
		Use:                   "clean [clean options...]",
		Short:                 "Clean your local apptainer cache",
		Args:                  cobra.NoArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := imgcache.ParseTypes(types)
			if err != nil {
				return usageError{err}
			}
			out := cmd.OutOrStdout()
			if dryRun {
				fmt.Fprintln(out, "User requested a dry run. Not actually deleting any data!")
			}
			if !force && !dryRun {
				fmt.Fprint(out, "This will delete everything in your cache (containers from all sources and OCI blobs).\n"+
					"Hint: You can see exactly what would be deleted by canceling and using the --dry-run option.\n"+
					"Do you want to continue? [y/N] ")
				answer, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && answer == "" {
					return fmt.Errorf("could not prompt user: could not read user's input: %w", err)
				}
				if strings.ToLower(strings.TrimSpace(answer)) != "y" {
					stderrLog.Infof("Handle cleanup canceled")
					return nil
				}
			}
			c := imgcache.Cache{Root: cacheRoot(os.Getenv)}
			n := 0
			err = c.Clean(ts, days, dryRun, time.Now(), func(e imgcache.Entry) {
				n++
				stderrLog.Infof("Removing %s cache entry: %s", e.Type, e.Name)
			})
			if err != nil {
				return fmt.Errorf("could not clean cache: %w", err)
			}
			if n == 0 {
				stderrLog.Infof("No cached files to remove at %s", c.Root)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&types, "type", "T", []string{"all"}, "a list of cache types to clean (possible values: library, oci, shub, blob, net, oras, all)")
	f.IntVarP(&days, "days", "D", 0, "remove all cache entries older than specified number of days")
	f.BoolVarP(&dryRun, "dry-run", "n", false, "operate in dry run mode and do not actually clean the cache")
	f.BoolVarP(&force, "force", "f", false, "suppress any prompts and clean the cache")
	return cmd
}
