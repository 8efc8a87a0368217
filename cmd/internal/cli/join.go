package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

// joinInstance runs exec, run or shell inside every namespace of a running
// instance.
func joinInstance(action launcher.Action, name string, o *actionOptions) error {
	f, jc, err := joinConfig(action, name, o)
	if err != nil {
		return err
	}
	// The caller's terminal never enters the instance: the joined process
	// gets a pseudo-terminal of its own, which this process relays.
	if engine.CallerHasTerminal() {
		code, err := engine.JoinWithTerminal(f.Pid, jc)
		if err != nil {
			return err
		}
		if code != 0 {
			return exitError{code: code}
		}
		return nil
	}
	// apptainer-nsenter joins, forks into the PID namespace, execs the
	// command in a session of its own and exits with its status: nothing
	// is left for Go to do, so this process becomes it.
	return engine.ExecInInstance(f.Pid, jc)
}

// runInInstance is joinInstance for a caller with more to do once the
// command has ended: it waits, and returns its exit status as an
// exitError.
func runInInstance(action launcher.Action, name string, o *actionOptions) error {
	f, jc, err := joinConfig(action, name, o)
	if err != nil {
		return err
	}
	var code int
	if engine.CallerHasTerminal() {
		code, err = engine.JoinWithTerminal(f.Pid, jc)
	} else {
		code, err = engine.RunInInstance(f.Pid, jc)
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}

// joinConfig finds the running instance name and decides the process that
// joins it for action.
func joinConfig(action launcher.Action, name string, o *actionOptions) (*instance.File, engine.JoinConfig, error) {
	f, err := liveInstance("", name)
	if errors.Is(err, errNoInstance) {
		return nil, engine.JoinConfig{}, fmt.Errorf("no instance found with name %s", name)
	}
	if err != nil {
		return nil, engine.JoinConfig{}, err
	}
	if f.Pid <= 0 {
		return nil, engine.JoinConfig{}, fmt.Errorf("instance %s is still starting: its container does not exist yet", name)
	}
	if !instance.InitAlive(f) {
		return nil, engine.JoinConfig{}, fmt.Errorf("instance %s: its PID 1 (%d) has exited", name, f.Pid)
	}
	cfg, err := instanceConfig(f)
	if err != nil {
		return nil, engine.JoinConfig{}, err
	}
	// A joined process gets PID 1's capabilities and seccomp filter.
	jc, err := engine.JoinConfigOf(cfg)
	if err != nil {
		return nil, engine.JoinConfig{}, err
	}
	jc.Cgroup = f.Cgroup
	if cfg.Boot != nil {
		// init's environment is systemd's; a login-like one suits a shell.
		jc.Env = []string{"PATH=" + config.DefaultPath, "HOME=/root", "TERM=" + os.Getenv("TERM"),
			"container=apptainer", "APPTAINER_CONTAINER=" + f.Image, "APPTAINER_INSTANCE=" + f.Name}
		jc.Cwd = "/root"
	}
	switch action {
	case launcher.ActionShell:
		jc.Args = append([]string{"/bin/sh"}, o.Args...)
	case launcher.ActionRun:
		jc.Args = append([]string{"/.singularity.d/runscript"}, o.Args...)
	default:
		if len(o.Args) == 0 {
			return nil, engine.JoinConfig{}, errors.New("exec needs a command to run")
		}
		jc.Args = o.Args
	}
	jc.Env, jc.Args = launcher.ForJoin(action, jc.Env, jc.Args)
	return f, jc, nil
}
