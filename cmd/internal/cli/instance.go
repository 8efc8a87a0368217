package cli

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
	"github.com/spf13/cobra"
)

func newInstanceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "instance",
		Short: "Manage containers running as services",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("invalid command")}
		},
	}
	cmd.AddCommand(
		newInstanceStartCommand(launcher.ActionInstanceStart),
		newInstanceStartCommand(launcher.ActionInstanceRun),
		newInstanceStopCommand(),
		newInstanceListCommand(),
		newInstanceStatsCommand(),
	)
	return cmd
}

// instancePaths locates the instances of user (the caller when empty).
func instancePaths(username string) (instance.Paths, error) {
	host, err := os.Hostname()
	if err != nil {
		return instance.Paths{}, err
	}
	var u *user.User
	if username == "" {
		u, err = user.LookupId(strconv.Itoa(os.Getuid()))
	} else {
		if os.Getuid() != 0 {
			return instance.Paths{}, fmt.Errorf("Only root user can list user's instances")
		}
		u, err = user.Lookup(username)
	}
	if err != nil {
		return instance.Paths{}, fmt.Errorf("failed to look up user: %w", err)
	}
	home := u.HomeDir
	if username == "" && os.Getenv("HOME") != "" {
		home = os.Getenv("HOME")
	}
	dir := instance.DefaultConfigDir(os.Getenv, home)
	if username != "" {
		dir = instance.DefaultConfigDir(func(string) string { return "" }, home)
	}
	paths := instance.Paths{ConfigDir: dir, Hostname: host, User: u.Username}
	if username == "" {
		// Root acting for another user (-u) only lists and removes that
		// user's files; what a ghost of root's own store left is released
		// from the runtime's record of it (engine.ReleaseGhost).
		paths.OnGhost = func(f *instance.File) { releaseGhost(paths, f) }
	}
	return paths, nil
}

// errInstanceGone is trustedInstance's answer for an instance that ended
// between the listing and the look at its record.
var errInstanceGone = errors.New("the instance has just exited")

// errNoInstance: no live instance of that name (callers word it).
var errNoInstance = errors.New("no instance found")

// liveInstance is the trusted file of user's live instance name.
func liveInstance(user, name string) (*instance.File, error) {
	paths, err := instancePaths(user)
	if err != nil {
		return nil, err
	}
	listed, err := paths.Get(name)
	if err != nil || !instance.Alive(listed) {
		return nil, errNoInstance
	}
	f, err := trustedInstance(paths, listed)
	if errors.Is(err, errInstanceGone) {
		return nil, errNoInstance
	}
	return f, err
}

// trustedInstance returns what the runtime recorded of the instance f
// names, for the CLI to act on: f comes from a directory that a user may
// be able to write (see engine.Trusted). A monitor removes its instance
// file before its record, so a record missing while the file is gone too
// (or names another monitor) is an instance that has just exited:
// errInstanceGone.
func trustedInstance(paths instance.Paths, f *instance.File) (*instance.File, error) {
	if os.Getuid() != 0 {
		// The user's own store, acted on with the user's own
		// privileges: what the file names is checked by the kernel.
		return f, nil
	}
	t, err := engine.Trusted(paths, f)
	if errors.Is(err, engine.ErrNoRecord) {
		if now, gerr := paths.Get(f.Name); errors.Is(gerr, instance.ErrNotFound) || (gerr == nil && now.PPid != f.PPid) {
			return nil, errInstanceGone
		}
		if startedByUser(paths, f) {
			return nil, fmt.Errorf("instance %s: %w: user %s started it without root, and root acts on it only as that user (instance stop -u does; for anything else run the command as %s)", f.Name, err, paths.User, paths.User)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", f.Name, err)
	}
	return t, nil
}

// listMatching lists the live instances of user whose names match the
// optional glob argument (all of them without one). damaged, when not nil,
// names the instance files that could not be read and tells what to do
// about each: the caller acts on files, then returns damaged, so that one
// bad file neither hides nor blocks the other instances.
func listMatching(username string, args []string) (files []*instance.File, damaged, err error) {
	paths, err := instancePaths(username)
	if err != nil {
		return nil, nil, err
	}
	glob, matchesSome := listPattern(args)
	if !matchesSome {
		return []*instance.File{}, nil, nil
	}
	files, err = paths.List(glob)
	var d *instance.DamagedError
	if !errors.As(err, &d) {
		return files, nil, err
	}
	errs := make([]error, len(d.Names))
	for i, name := range d.Names {
		errs[i] = fmt.Errorf("%w (if instance %s is not running, remove %s)", d.Errs[i], name, paths.Dir(name))
	}
	return files, errors.Join(errs...), nil
}

// listPattern is the name pattern of the instance commands' optional
// argument: every instance without one. An empty argument (a script's
// unset variable, `instance stop "$NAME"`) matches no instance, as
// upstream's: it must never widen to all of them.
func listPattern(args []string) (glob string, matchesSome bool) {
	if len(args) == 0 {
		return "*", true
	}
	return args[0], args[0] != ""
}

// instanceConfig decodes the container config stored in an instance file.
func instanceConfig(f *instance.File) (*config.Config, error) {
	if len(f.Config) == 0 {
		return nil, fmt.Errorf("instance %s has no stored configuration", f.Name)
	}
	return config.Decode(f.Config)
}

// releaseGhost cleans up after an instance whose monitor died.
func releaseGhost(paths instance.Paths, f *instance.File) {
	release := engine.ReleaseGhost
	if os.Getuid() != 0 {
		release = engine.ReleaseUserGhost
	}
	if err := release(paths, f); err != nil {
		stderrLog.Warningf("cleaning up after exited instance %s: %v", f.Name, err)
	} else {
		stderrLog.Verbosef("cleaned up after exited instance %s", f.Name)
	}
}

func secondsDuration(s int) time.Duration { return time.Duration(s) * time.Second }
