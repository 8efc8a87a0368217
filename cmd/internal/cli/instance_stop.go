package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
	"github.com/apptainer/apptainer/internal/pkg/signal"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type stopOptions struct {
	user    string
	all     bool
	force   bool
	signal  string
	timeout int
}

func newInstanceStopCommand() *cobra.Command {
	o := &stopOptions{}
	cmd := &cobra.Command{
		Use:   "stop [stop options...] [instance name]",
		Short: "Stop a named instance of a given container image",
		Long: `Stop a named instance. Booted instances (--boot) get their init's own
request to halt: SIGRTMIN+3 for systemd, SIGUSR2 (poweroff) for busybox
init, SIGINT for any other init. Other instances get SIGINT. After the
timeout the instance is killed.`,
		Example: `  apptainer instance stop web
  apptainer instance stop --all
  apptainer instance stop --signal RTMIN+4 node1`,
		Args:                  cobra.MaximumNArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, kv := range []struct {
				key string
				set func(string)
			}{
				{"USER", func(v string) { o.user = v }},
				{"SIGNAL", func(v string) { o.signal = v }},
			} {
				if v, ok := envLookup(kv.key, os.Getenv, stderrLog); ok && !cmd.Flags().Changed(strings.ToLower(kv.key)) {
					kv.set(v)
				}
			}
			return stopInstances(o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.user, "user", "u", "", "if running as root, stop instances belonging to user")
	f.BoolVarP(&o.all, "all", "a", false, "stop all user's instances")
	f.BoolVarP(&o.force, "force", "F", false, "force kill instance")
	f.StringVarP(&o.signal, "signal", "s", "", "signal sent to the instance (names, numbers and RTMIN+N are accepted)")
	f.IntVarP(&o.timeout, "timeout", "t", 10, "force kill non stopped instances after X seconds")
	return cmd
}

func stopInstances(o *stopOptions, args []string) error {
	if len(args) == 0 && !o.all {
		return usageError{errors.New("invalid command")}
	}
	if o.user != "" && os.Getuid() != 0 {
		return errors.New("Only root user can stop user's instances")
	}
	var sig unix.Signal
	if o.signal != "" {
		s, err := signal.Parse(o.signal)
		if err != nil {
			return fmt.Errorf("Could not convert stop signal: %w", err)
		}
		sig = s
	}
	files, damaged, err := listMatching(o.user, args)
	if err != nil {
		return err
	}
	paths, err := instancePaths(o.user)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		if damaged != nil {
			return damaged
		}
		// Upstream returns this from the command, so it comes with the
		// usage and exit code 1, as a usage error does.
		return usageError{errors.New("no instance found")}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	for i, listed := range files {
		// The listed file only names the instance: what stop signals and
		// waits for comes from the runtime's record of it.
		f, err := trustedInstance(paths, listed)
		if errors.Is(err, errInstanceGone) {
			continue // stopped by itself meanwhile: nothing left to do
		}
		if o.user != "" && errors.Is(err, engine.ErrNoRecord) && startedByUser(paths, listed) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = runAsUser(o.user, stopArgs(o, listed.Name)...)
			}()
			continue
		}
		if err != nil {
			errs[i] = err
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = stopOne(paths, f, sig, o.force, time.Duration(o.timeout)*time.Second, stderrLog.Infof)
		}()
	}
	wg.Wait()
	return errors.Join(append(errs, damaged)...)
}

// stopArgs are the arguments of `instance stop` for instance name with
// o's signal, force and timeout, as the instance's user runs it.
func stopArgs(o *stopOptions, name string) []string {
	args := []string{"instance", "stop", "--timeout", strconv.Itoa(o.timeout)}
	if o.signal != "" {
		args = append(args, "--signal", o.signal)
	}
	if o.force {
		args = append(args, "--force")
	}
	return append(args, "--", name)
}

// stopOne signals an instance's PID 1 and waits for its monitor to finish
// cleaning up, killing PID 1 after timeout. An instance that is still
// starting is stopped through its monitor, which aborts the start. Should
// the monitor itself not finish, it is killed and its instance released
// as a ghost: stop never waits without bound.
// say prints the steps ("Stopping ...").
func stopOne(paths instance.Paths, f *instance.File, sig unix.Signal, force bool, timeout time.Duration, say func(string, ...any)) error {
	if sig == 0 {
		sig = defaultStopSignal(f)
	}
	if force {
		sig = unix.SIGKILL
	}
	starting := f.Pid <= 0 || f.State == instance.StateStarting
	say("Stopping %s instance of %s (PID=%d)", f.Name, f.Image, f.Pid)
	start := time.Now()
	switch {
	case starting:
		msig := unix.SIGTERM
		if force {
			msig = unix.SIGKILL
		}
		if err := instance.SignalMonitor(f, msig); err != nil && !errors.Is(err, instance.ErrMonitorGone) {
			return fmt.Errorf("failed to send %s to the monitor of instance %s: %w", signal.Name(msig), f.Name, err)
		}
	default:
		// Before the signal: the monitor's exit code (what a systemd unit
		// judges the instance by) counts an end asked for as no failure.
		if err := engine.NoteStopRequest(f); err != nil {
			stderrLog.Warningf("%v", err)
		}
		if err := instance.SignalInit(f, sig); err != nil && !errors.Is(err, instance.ErrInitGone) {
			return fmt.Errorf("failed to send %s to instance %s: %w", signal.Name(sig), f.Name, err)
		}
	}
	if !instance.WaitGone(f, timeout) {
		say("Killing %s instance of %s (PID=%d) (Timeout)", f.Name, f.Image, f.Pid)
		if f.Pid > 0 {
			_ = instance.SignalInit(f, unix.SIGKILL)
		} else {
			_ = instance.SignalMonitor(f, unix.SIGKILL)
		}
		if !instance.WaitGone(f, monitorCleanupTimeout) {
			if err := killMonitor(paths, f); err != nil {
				return err
			}
		}
	}
	elapsed := time.Since(start).Round(10 * time.Millisecond)
	if f.Boot {
		outcome := lastMonitorLine(f)
		if outcome == "" {
			outcome = "stopped"
		}
		stderrLog.Infof("%s: %s after %s", f.Name, outcome, elapsed)
	}
	if f.BootHostnet {
		if b, err := os.ReadFile(engine.GuardReportPath(f.LogErrPath)); err == nil {
			var report struct {
				Changes []json.RawMessage `json:"changes"`
			}
			switch {
			case json.Unmarshal(b, &report) != nil:
				stderrLog.Warningf("host-network guard: unreadable report %s", engine.GuardReportPath(f.LogErrPath))
			case len(report.Changes) == 0:
				stderrLog.Infof("host-network guard: host network unchanged after stop")
			default:
				stderrLog.Warningf("host-network guard: the host network changed (%d changes); see %s", len(report.Changes), engine.GuardReportPath(f.LogErrPath))
			}
		}
	}
	return nil
}

// defaultStopSignal is what stop sends without --signal: a booted
// instance's init's own halt request, which its monitor found out at the
// start (SIGRTMIN+3 for an instance from before it did), else SIGINT.
func defaultStopSignal(f *instance.File) unix.Signal {
	switch {
	case !f.Boot:
		return unix.SIGINT
	case f.StopSignal > 0 && f.StopSignal < 65:
		return unix.Signal(f.StopSignal)
	}
	return signal.RTMin + 3
}

// monitorCleanupTimeout is how long stop waits for a monitor to clean up
// after its PID 1 was killed: CNI DEL, cgroup removal and the guard's last
// snapshot each have bounds well below it.
const monitorCleanupTimeout = 30 * time.Second

// killMonitor kills a monitor that did not finish its cleanup in time and
// releases its instance as a ghost, as the next listing would.
func killMonitor(paths instance.Paths, f *instance.File) error {
	stderrLog.Warningf("instance %s: the monitor (PID %d) did not finish its cleanup within %s; killing it", f.Name, f.PPid, monitorCleanupTimeout)
	if err := instance.SignalMonitor(f, unix.SIGKILL); errors.Is(err, instance.ErrMonitorGone) {
		return nil
	}
	if !instance.WaitGone(f, 10*time.Second) {
		return fmt.Errorf("instance %s: the monitor (PID %d) survives SIGKILL (state %s)", f.Name, f.PPid, processState(f.PPid))
	}
	_, err := paths.List(f.Name)
	return err
}

// processState is the state letter of pid from /proc ("D" is a process
// stuck in the kernel), for messages.
func processState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "unknown"
	}
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return string(b[i+2])
	}
	return "unknown"
}

// lastMonitorLine finds the monitor's report on how init ended.
func lastMonitorLine(f *instance.File) string {
	b, err := os.ReadFile(f.LogErrPath)
	if err != nil {
		return ""
	}
	prefix := "instance " + f.Name + ": "
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if s, ok := strings.CutPrefix(lines[i], prefix); ok {
			return s
		}
	}
	return ""
}
