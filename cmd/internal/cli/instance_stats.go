package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

type instanceStatsOptions struct {
	user           string
	json, noStream bool
}

func newInstanceStatsCommand() *cobra.Command {
	o := &instanceStatsOptions{}
	cmd := &cobra.Command{
		Use:   "stats [stats options...] <instance name>",
		Short: "Get stats for a named instance",
		Long: `Show the CPU, memory, block I/O and process count of an instance with a
cgroup of its own (started with --boot), refreshed every second, or once
with --no-stream; --json prints the cgroup statistics once, as upstream.`,
		Example:               "  apptainer instance stats node1\n  apptainer instance stats --json node1",
		Args:                  cobra.ExactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
			defer stop()
			return instanceStats(ctx, cmd.OutOrStdout(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.user, "user", "u", "", "if running as root, show stats for instances belonging to user")
	f.BoolVarP(&o.json, "json", "j", false, "output stats in json")
	f.BoolVar(&o.noStream, "no-stream", false, "disable streaming (live update) of instance stats")
	return cmd
}

// instanceStats samples the instance's cgroups every second: the CPU
// share is the CPU time used between two samples.
func instanceStats(ctx context.Context, w io.Writer, o *instanceStatsOptions, name string) error {
	f, err := liveInstance(o.user, name)
	if errors.Is(err, errNoInstance) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if o.json && !o.noStream {
		// One sample, as upstream: a stream of JSON documents helps no one.
		o.noStream = true
	}
	if !o.json {
		stderrLog.Infof("Stats for %s instance of %s (PID=%d)", f.Name, f.Image, f.Pid)
	}
	prev, err := engine.InstanceStats(f)
	if err != nil {
		return err
	}
	prevAt := time.Now()
	clear := !o.noStream && isTerminal(w)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		cur, err := engine.InstanceStats(f)
		if err != nil {
			return err
		}
		now := time.Now()
		if o.json {
			_, err := w.Write(append(indentJSON(cur.Raw), '\n'))
			return err
		}
		if clear {
			fmt.Fprint(w, "\x1b[H\x1b[2J")
		}
		cpu := float64(cur.CPUTotal-min(prev.CPUTotal, cur.CPUTotal)) / float64(now.Sub(prevAt).Nanoseconds()) * 100
		writeStatsTable(w, f.Name, cpu, cur)
		if o.noStream {
			return nil
		}
		prev, prevAt = cur, now
	}
}

func writeStatsTable(w io.Writer, name string, cpuPercent float64, u *engine.InstanceUsage) {
	tw := tabwriter.NewWriter(w, 0, 8, 4, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE NAME\tCPU USAGE\tMEM USAGE / LIMIT\tMEM %\tBLOCK I/O\tPIDS")
	limit, percent := "unlimited", 0.0
	if u.MemLimit > 0 {
		limit = units.BytesSize(float64(u.MemLimit))
		percent = float64(u.MemUsage) / float64(u.MemLimit) * 100
	}
	fmt.Fprintf(tw, "%s\t%.2f%%\t%s / %s\t%.2f%%\t%s / %s\t%d\n", name, cpuPercent,
		units.BytesSize(float64(u.MemUsage)), limit, percent,
		units.BytesSize(float64(u.BlockRead)), units.BytesSize(float64(u.BlockWrite)), u.Pids)
	tw.Flush()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// indentJSON indents with tabs, as upstream's JSON output.
func indentJSON(raw []byte) []byte {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "\t") != nil {
		return raw
	}
	return b.Bytes()
}
