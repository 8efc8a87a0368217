// Command bench measures the booted-instance runtime against its peers
// (systemd-nspawn, nsenter, the bare host namespace) in one run and prints
// a Markdown table of medians, ranges, ratios and the targets of issue 7,
// plus an SVG strip plot of the start→READY distributions.
//
// It must run as root. Like the e2e tests it first re-executes itself in a
// throwaway network, mount and UTS namespace that plays the host, so no
// instance, bridge or veth ever touches the machine's own network. Targets
// are reported, never asserted: the exit status is non-zero only when a
// case could not be measured. See docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
)

const innerEnv = "APPTAINER_BENCH_INNER"

// config is what the command line chooses.
type config struct {
	Repo   string // source tree, to build apptainer and find etc/
	Image  string // booted rootfs (scripts/e2e-image.sh output)
	Binary string // prebuilt apptainer with our SysConfDir, or "" to build one
	Out    string // directory for the SVG and raw results
	Boots  int    // boot/stop cycles per peer
	Execs  int    // exec and list iterations
	Iperf  int    // iperf3 runs per configuration
	Only   string // comma-separated case groups; empty runs all
	// Compare is another source tree (an earlier commit, say) whose
	// booted start is timed in the same run, interleaved with ours.
	Compare string
}

func main() {
	var c config
	flag.StringVar(&c.Repo, "repo", ".", "apptainer source tree")
	flag.StringVar(&c.Image, "image", os.Getenv("APPTAINER_E2E_IMAGE"), "systemd rootfs to boot (default: output of scripts/e2e-image.sh)")
	flag.StringVar(&c.Binary, "binary", "", "apptainer binary built with this run's SysConfDir (default: build one)")
	flag.StringVar(&c.Out, "out", "bench-results", "directory for start-ready.svg and results.md")
	flag.IntVar(&c.Boots, "boots", 10, "boot and stop cycles per runtime")
	flag.IntVar(&c.Execs, "execs", 30, "iterations of exec and of instance list")
	flag.IntVar(&c.Iperf, "iperf", 3, "iperf3 runs per configuration")
	flag.StringVar(&c.Only, "only", "", "run only these groups: boot,trace,exec,rss,list,iperf,guard,env,rootless")
	flag.StringVar(&c.Compare, "compare", "", "source tree (e.g. a git worktree of an earlier commit) whose --boot-hostnet start is timed in the same run, for a before/after row")
	flag.Parse()

	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: must run as root (it boots containers)")
		os.Exit(2)
	}
	if os.Getenv(innerEnv) == "" {
		os.Exit(reexec())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, c))
}

// reexec runs this program again inside a throwaway network, mount and
// UTS namespace and returns its exit status.
func reexec() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	args := append([]string{"--net", "--mount", "--uts", "--propagation", "private", "--", self}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The child gets the terminal's SIGINT too and cleans up; wait for it.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bench: cannot enter a throwaway namespace:", err)
		return 1
	}
	return 0
}

// run sets up, measures every group, prints the table and cleans up.
func run(ctx context.Context, c config) int {
	r, err := newRunner(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: setup:", err)
		if r != nil {
			r.cleanup()
		}
		return 1
	}
	defer r.cleanup()
	rows, failed := r.measure(ctx, c)
	table, err := Table(rows)
	fmt.Println()
	fmt.Print(table)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		failed = true
	}
	if werr := r.writeOutputs(c.Out, table); werr != nil {
		fmt.Fprintln(os.Stderr, "bench:", werr)
		failed = true
	} else {
		fmt.Printf("\nplot: %s\n", filepath.Join(c.Out, "start-ready.svg"))
	}
	if failed {
		return 1
	}
	return 0
}
