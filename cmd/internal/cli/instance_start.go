package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/ociimage"
	"github.com/apptainer/apptainer/internal/pkg/oras"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
	"github.com/apptainer/apptainer/internal/pkg/sdnotify"
	"github.com/apptainer/apptainer/internal/pkg/termtext"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

func newInstanceStartCommand(action launcher.Action) *cobra.Command {
	o := &actionOptions{}
	var confPath string
	verb := "start"
	short := "Start a named instance of the given container image"
	if action == launcher.ActionInstanceRun {
		verb = "run"
		short = "Run a named instance of the given container image"
	}
	cmd := &cobra.Command{
		Use:   verb + " [" + verb + " options...] <container path> <instance name> [" + verb + "script args...]",
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("conf") {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.MinimumNArgs(2)(cmd, args)
		},
		DisableFlagsInUseLine: true,
		Example: `  apptainer instance ` + verb + ` /tmp/debian web
  apptainer instance ` + verb + ` --boot /srv/images/node web
  apptainer instance ` + verb + ` --boot --boot-hostnet /srv/images/node node1
  apptainer instance ` + verb + ` --conf /etc/apptainer/instances/node1.conf node1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if confPath != "" {
				// The file's image, arguments and flags, as if they
				// were on the command line: <image> <name> [args].
				c, err := readInstanceConf(confPath, cmd.Flags())
				if err != nil {
					return err
				}
				if err := applyInstanceConf(c, cmd.Flags(), confPath); err != nil {
					return err
				}
				args = append([]string{c.image, args[0]}, c.args...)
			}
			if err := applyEnv(cmd, actionFlags, os.Getenv, stderrLog); err != nil {
				return err
			}
			o.conf = configSource(cmd, os.Getenv, stderrLog)
			o.Action = action
			if cmd.Flags().Changed("boot-hostnet-userns") {
				o.BootHostnetUserns = &o.bootHostnetUserns
			}
			if cmd.Flags().Changed("boot-hostnet-guard") {
				o.BootHostnetGuard = &o.bootHostnetGuard
			}
			o.InstanceName = args[1]
			o.Args = args[2:]
			return startInstance(cmd, o, args[0])
		},
	}
	cmd.Flags().SetInterspersed(false)
	register(cmd, actionFlags, groupInstance, o)
	cmd.Flags().StringVar(&confPath, "conf", "", "read the image, its arguments and flags from this file of \"key = value\" lines (see docs/host-unit.md); give only the instance name then (root only)")
	return cmd
}

func startInstance(cmd *cobra.Command, o *actionOptions, image string) error {
	// Under systemd (a Type=notify unit) the CLI tells it how the start
	// goes; nothing it starts inherits the socket.
	notify, err := sdnotify.FromEnv()
	if err != nil {
		stderrLog.Warningf("not reporting to systemd: %v", err)
	}
	if err := instance.CheckName(o.InstanceName); err != nil {
		return err
	}
	if o.Boot && len(o.Args) > 0 {
		stderrLog.Warningf("--boot runs /sbin/init without arguments; ignoring %s", strings.Join(o.Args, " "))
		o.Args = nil
	}
	if ociimage.IsSource(image) || oras.IsRef(image) {
		sif, err := ociInstanceImage(o, image)
		if err != nil {
			return err
		}
		image = sif
	}
	_ = notify.Send(sdnotify.Status("starting instance " + o.InstanceName + " of " + image))
	cfg, err := buildConfig(o, image)
	if err != nil {
		return err
	}
	res, err := launchInstance(cfg, o.InstanceName, notify)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		stderrLog.Warningf("%s", w)
	}
	if cfg.HostNet != nil {
		masked := fmt.Sprintf("masked %d network units", len(cfg.HostNet.MaskedUnits))
		if res.Readiness != "" && res.Readiness != engine.ReadyNotified {
			// Masks are systemd's: an init that does not report readiness
			// is not systemd, and they do nothing for it.
			masked += " (systemd's; " + termtext.Line(res.Init) + " ignores them)"
		}
		stderrLog.Infof("%s shares the host network; %s, dropped %s", o.InstanceName,
			masked, strings.Join(cfg.HostNet.DroppedCaps, ", "))
		switch {
		case cfg.UserNS != nil:
			stderrLog.Infof("%s runs in a user namespace: container ids 0-%d are host ids %d-%d", o.InstanceName,
				cfg.UserNS.Size-1, res.IDMapHost, res.IDMapHost+cfg.UserNS.Size-1)
		case cfg.Unprivileged:
			stderrLog.Infof("%s runs in a user namespace of its user's: %s", o.InstanceName, idMapText(cfg.UIDMap))
		default:
			stderrLog.Infof("%s runs without a user namespace: root inside is host root", o.InstanceName)
		}
		if res.HostnetChanges != "" {
			stderrLog.Warningf("the host network changed while %s booted:\n%s", o.InstanceName, res.HostnetChanges)
		} else if cfg.HostNet.Guard != config.GuardOff {
			stderrLog.Infof("host-network guard: host network unchanged%s%s", guardWhen(res.Readiness), guardScope(cfg))
		}
	}
	stderrLog.Infof("instance started successfully")
	handOver(notify, o.InstanceName, res)
	if cfg.Boot != nil {
		printBootState(cmd.OutOrStdout(), o.InstanceName, res)
	}
	if res.RuntimeTime > 0 {
		pid1 := "the shim (appinit)"
		if !cfg.Shim && len(cfg.Spec.Process.Args) > 0 {
			pid1 = cfg.Spec.Process.Args[0]
		}
		stderrLog.Verbosef("runtime time from CLI start to exec of %s: %.1f ms", pid1, ms(res.RuntimeTime))
		steps := make([]string, 0, len(res.Trace))
		for _, p := range res.Trace {
			steps = append(steps, fmt.Sprintf("%s +%.1f", p.Step, ms(p.After)))
		}
		stderrLog.Verbosef("runtime trace (ms after CLI start): %s", strings.Join(steps, ", "))
	}
	if paths, err := instancePaths(""); err == nil {
		outPath, errPath := paths.LogPaths(o.InstanceName)
		stderrLog.Verbosef("you will find instance output here: %s", outPath)
		stderrLog.Verbosef("you will find instance error here: %s", errPath)
	}
	return nil
}

// handOver tells systemd, when `instance start` is a Type=notify unit's
// main process, that the instance is up and that its monitor, which lives
// as long as the instance, is the unit's main process from now on; it
// waits until systemd has read that, since this process exits next.
func handOver(notify *sdnotify.Notifier, name string, res *engine.StartResult) {
	if notify == nil {
		return
	}
	status := name + ": running"
	if res.State != "" {
		status = name + ": " + res.State
	}
	err := notify.Send(sdnotify.Ready(res.MonitorPid, status))
	if err == nil {
		err = notify.Barrier()
	}
	if err != nil {
		stderrLog.Warningf("%v", err)
	}
}

// launchInstance starts the instance name of cfg, with its logs, and
// returns once it runs or failed, printing the monitor's progress (and
// passing it to systemd as STATUS= under a Type=notify unit).
func launchInstance(cfg *config.Config, name string, notify *sdnotify.Notifier) (*engine.StartResult, error) {
	paths, err := instancePaths("")
	if err != nil {
		return nil, err
	}
	if f, err := paths.Get(name); err == nil && instance.Alive(f) {
		return nil, fmt.Errorf("instance %s already exists", name)
	}
	outPath, errPath := paths.LogPaths(name)
	outLog, errLog, err := openLogs(outPath, errPath)
	if err != nil {
		return nil, err
	}
	defer outLog.Close()
	defer errLog.Close()

	show := progressPrinter(stderrLog, term.IsTerminal(int(os.Stderr.Fd())))
	progress := func(s string) {
		show(s)
		_ = notify.Send(sdnotify.Status(s))
	}
	res, err := engine.StartInstance(cfg, outLog, errLog, progress)
	if err != nil {
		// A monitor that was killed, or did not finish in time, leaves
		// its instance file for the ghost cleanup: run it now rather than
		// at the next listing. A live instance of this name is left alone.
		_, _ = paths.List(name)
		if errors.Is(err, instance.ErrExists) {
			return nil, fmt.Errorf("instance %s already exists", name)
		}
		return nil, fmt.Errorf("failed to start instance: %w", err)
	}
	return res, nil
}

// progressPrinter returns the callback that prints the monitor's progress
// lines: at INFO on a terminal, else only with -v. A progress line can be
// systemd's STATUS= text, which the image chooses: it is escaped to stay
// one line that only shows itself.
func progressPrinter(log *logger, tty bool) func(string) {
	return func(s string) {
		s = termtext.Line(s)
		if tty {
			log.Infof("%s", s)
		} else {
			log.Verbosef("%s", s)
		}
	}
}

// guardWhen says when the guard compared, for an init that does not
// report readiness: its check ran when the start was taken as done.
// guardScope says what an ordinary user's guard leaves out: the
// firewall, which only root may read.
func guardScope(cfg *config.Config) string {
	if !cfg.Unprivileged || os.Getuid() == 0 {
		return ""
	}
	return "; the firewall was not compared: reading it needs root, and the instance's user namespace cannot change it"
}

// idMapText describes a user namespace's uid map for messages: "container
// id 0 is host id 1000, container ids 1-65536 are host ids
// 100000-165535".
func idMapText(maps []config.IDMap) string {
	parts := make([]string, 0, len(maps))
	for _, m := range maps {
		if m.Size == 1 {
			parts = append(parts, fmt.Sprintf("container id %d is host id %d", m.ContainerID, m.HostID))
			continue
		}
		parts = append(parts, fmt.Sprintf("container ids %d-%d are host ids %d-%d", m.ContainerID, m.ContainerID+m.Size-1, m.HostID, m.HostID+m.Size-1))
	}
	if len(parts) == 0 {
		return "no ids mapped"
	}
	return strings.Join(parts, ", ")
}

func guardWhen(readiness string) string {
	switch readiness {
	case engine.ReadySettled:
		return " (compared once init's processes had settled)"
	case engine.ReadyUnknown:
		return " (compared at the boot timeout; init's processes had not settled)"
	}
	return ""
}

// printBootState prints how a booted instance came up: "NAME: STATE", and
// the failed units. State and unit names come from the instance's systemd
// and are escaped; an init that does not report readiness has state
// "unknown", and the line says why.
func printBootState(w io.Writer, name string, res *engine.StartResult) {
	switch res.Readiness {
	case engine.ReadySettled:
		fmt.Fprintf(w, "%s: %s (%s does not report readiness; started once its processes settled)\n", name, termtext.Line(res.State), termtext.Line(res.Init))
		return
	case engine.ReadyUnknown:
		fmt.Fprintf(w, "%s: %s (%s does not report readiness; its processes were still changing at the boot timeout)\n", name, termtext.Line(res.State), termtext.Line(res.Init))
		return
	}
	if len(res.FailedUnits) > 0 {
		fmt.Fprintf(w, "%s: %s (failed units: %s)\n", name, termtext.Line(res.State), termtext.Join(res.FailedUnits, ", "))
		return
	}
	fmt.Fprintf(w, "%s: %s\n", name, termtext.Line(res.State))
}

// openLogs opens an instance's logs for appending: upstream keeps them
// after the instance stops.
func openLogs(outPath, errPath string) (*os.File, *os.File, error) {
	if err := os.MkdirAll(filepath.Dir(outPath), 0o700); err != nil {
		return nil, nil, fmt.Errorf("failed to create log directory: %w", err)
	}
	out, err := instance.OpenLog(outPath)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to open log file: %w", err)
	}
	errLog, err := instance.OpenLog(errPath)
	if err != nil {
		out.Close()
		return nil, nil, fmt.Errorf("failed to open log file: %w", err)
	}
	return out, errLog, nil
}

// ms is d in milliseconds, for trace output.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
