package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/ociimage"
	"github.com/apptainer/apptainer/internal/pkg/oras"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
	"github.com/spf13/cobra"
)

type actionKind struct {
	action  launcher.Action
	use     string
	short   string
	example string
	minArgs int
}

var (
	actionExec = actionKind{launcher.ActionExec, "exec [exec options...] <container> <command>",
		"Run a command within a container", "  apptainer exec /tmp/debian ls /\n  apptainer exec instance://web cat /etc/hostname", 2}
	actionRun = actionKind{launcher.ActionRun, "run [run options...] <container> [args...]",
		"Run the user-defined default command within a container", "  apptainer run /tmp/debian", 1}
	actionShell = actionKind{launcher.ActionShell, "shell [shell options...] <container>",
		"Run a shell within a container", "  apptainer shell /tmp/debian\n  apptainer shell instance://web", 1}
)

// instanceURI prefixes an image argument that names a running instance.
const instanceURI = "instance://"

func newActionCommand(k actionKind) *cobra.Command {
	o := &actionOptions{}
	cmd := &cobra.Command{
		Use:                   k.use,
		Short:                 k.short,
		Example:               k.example,
		Args:                  cobra.MinimumNArgs(k.minArgs),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEnv(cmd, actionFlags, os.Getenv, stderrLog); err != nil {
				return err
			}
			o.conf = configSource(cmd, os.Getenv, stderrLog)
			o.Action = k.action
			o.Args = args[1:]
			if name, ok := strings.CutPrefix(args[0], instanceURI); ok {
				if o.ShareNS {
					return usageError{errors.New("--sharens cannot be used with an instance:// image")}
				}
				return joinInstance(k.action, name, o)
			}
			if o.ShareNS {
				return runShared(k.action, o, args[0])
			}
			return runAction(o, args[0])
		},
	}
	cmd.Flags().SetInterspersed(false)
	register(cmd, actionFlags, groupActions, o)
	return cmd
}

// buildConfig resolves the image, gathers host facts, loads the conf and
// lets the launcher decide. Its messages are printed here.
func buildConfig(o *actionOptions, image string) (*config.Config, error) {
	abs, err := resolveImage(image)
	if err != nil {
		return nil, err
	}
	o.Image = abs
	host, err := gatherHost(abs)
	if err != nil {
		return nil, err
	}
	conf, err := loadConfig(o.conf)
	if err != nil {
		return nil, err
	}
	if o.bootTimeout < 0 {
		return nil, usageError{errors.New("--boot-timeout must be a positive number of seconds")}
	}
	o.BootTimeout = secondsDuration(o.bootTimeout)
	if o.envFile != "" {
		b, err := os.ReadFile(o.envFile)
		if err != nil {
			return nil, fmt.Errorf("could not read --env-file: %w", err)
		}
		if o.EnvFile, err = launcher.ParseEnvFile(o.envFile, string(b)); err != nil {
			return nil, launcherError(err)
		}
	}
	if o.cgroupsFile != "" {
		b, err := os.ReadFile(o.cgroupsFile)
		if err != nil {
			return nil, fmt.Errorf("could not read --apply-cgroups: %w", err)
		}
		if o.Limits.File, err = launcher.ParseCgroupsFile(o.cgroupsFile, b); err != nil {
			return nil, launcherError(err)
		}
	}
	if o.Overlay, o.OverlayImages, err = resolveOverlays(o.Overlay); err != nil {
		return nil, err
	}
	if err := prepareWorkdir(o.Workdir, launcher.ScratchPaths(o.Options)); err != nil {
		return nil, err
	}
	if o.Fakeroot {
		host.SubUID, host.SubGID = subIDsOf(host)
	}
	cfg, msgs, err := launcher.Build(o.Options, conf, host)
	for _, m := range msgs {
		if m.Level == launcher.Warning {
			stderrLog.Warningf("%s", m.Text)
		} else {
			stderrLog.Infof("%s", m.Text)
		}
	}
	if err != nil {
		return nil, launcherError(err)
	}
	cfg.TraceStart = processStart.UnixNano()
	cfg.Quiet = stderrLog.level < levelWarning
	debugDecisions(cfg)
	return cfg, nil
}

// resolveOverlays makes each --overlay path absolute and checks that it is
// a directory or an ext3 overlay image, which it also returns apart.
func resolveOverlays(items []string) ([]string, []string, error) {
	var out, images []string
	for _, item := range items {
		p, ro := launcher.SplitOverlay(item)
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, nil, err
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, nil, fmt.Errorf("--overlay %s: %w", item, err)
		}
		switch {
		case fi.IsDir():
		case fi.Mode().IsRegular() && image.IsExtImage(abs):
			images = append(images, abs)
		default:
			return nil, nil, fmt.Errorf("--overlay %s: want a directory or an ext3 overlay image (a SIF overlay is not supported by this build)", item)
		}
		if ro {
			abs += ":ro"
		}
		out = append(out, abs)
	}
	return out, images, nil
}

// prepareWorkdir creates the directories a --workdir provides for /tmp,
// /var/tmp, a contained home and the --scratch paths.
func prepareWorkdir(dir string, scratch []string) error {
	if dir == "" {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for _, d := range scratch {
		if err := os.MkdirAll(launcher.ScratchSource(abs, d), 0o755); err != nil {
			return fmt.Errorf("failed to prepare --scratch %s in --workdir %s: %w", d, abs, err)
		}
	}
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"tmp", 0o1777}, {"var_tmp", 0o1777}, {"home", 0o700}} {
		p := filepath.Join(abs, d.name)
		if err := os.MkdirAll(p, d.mode); err != nil {
			return fmt.Errorf("failed to prepare --workdir %s: %w", abs, err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
	}
	return nil
}

// launcherError removes the class marker from a launcher error's text;
// the class still decides the exit code.
func launcherError(err error) error {
	msg := err.Error()
	for _, class := range []error{launcher.ErrInvalid, launcher.ErrPermission} {
		msg = strings.TrimPrefix(msg, class.Error()+": ")
	}
	return fmt.Errorf("%s", msg)
}

func runAction(o *actionOptions, image string) error {
	if ociimage.IsSource(image) || oras.IsRef(image) {
		opts, err := o.oci.options(os.Getenv)
		if err != nil {
			return err
		}
		sif, release, _, err := remoteActionImage(image, opts)
		if err != nil {
			return err
		}
		defer release()
		image = sif
	}
	cfg, err := buildConfig(o, image)
	if err != nil {
		return err
	}
	code, err := engine.Run(cfg)
	if err != nil {
		return err
	}
	return exitError{code: code}
}
