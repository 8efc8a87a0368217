package cli

import (
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
	return instance.Paths{ConfigDir: dir, Hostname: host, User: u.Username, OnGhost: releaseGhost}, nil
}

// listMatching lists the live instances of user whose names match the
// optional glob argument (all of them without one).
func listMatching(username string, args []string) ([]*instance.File, error) {
	paths, err := instancePaths(username)
	if err != nil {
		return nil, err
	}
	glob := "*"
	if len(args) == 1 {
		glob = args[0]
	}
	return paths.List(glob)
}

// instanceConfig decodes the container config stored in an instance file.
func instanceConfig(f *instance.File) (*config.Config, error) {
	if len(f.Config) == 0 {
		return nil, fmt.Errorf("instance %s has no stored configuration", f.Name)
	}
	return config.Decode(f.Config)
}

// releaseGhost cleans up after an instance whose monitor died.
func releaseGhost(f *instance.File) {
	if os.Getuid() != 0 {
		return
	}
	if err := engine.ReleaseGhost(f); err != nil {
		stderrLog.Warningf("cleaning up after exited instance %s: %v", f.Name, err)
	} else {
		stderrLog.Verbosef("cleaned up after exited instance %s", f.Name)
	}
}

func secondsDuration(s int) time.Duration { return time.Duration(s) * time.Second }
