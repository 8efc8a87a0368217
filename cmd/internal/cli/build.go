package cli

import (
	"context"
	"os"
	"os/signal"

	"github.com/apptainer/apptainer/internal/pkg/build"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

type buildOptions struct {
	sandbox, force bool
	oci            ociFlags
}

func newBuildCommand() *cobra.Command {
	o := &buildOptions{oci: ociFlags{archEnv: "BUILD_ARCH"}}
	cmd := &cobra.Command{
		Use:   "build [local options...] <IMAGE PATH> <BUILD SPEC>",
		Short: "Build an Apptainer image",
		Long: `Build an image from a definition file (Bootstrap: debootstrap, localimage,
docker, oci, oci-archive, docker-archive or oras), a sandbox directory, a SIF, an
OCI image: docker://[HOST[:PORT]/]NAME[:TAG|@DIGEST], docker-archive:FILE[:REF],
oci-archive:FILE[:REF] or oci:DIR[:REF], or a SIF stored in a registry as an
ORAS artifact: oras://[HOST[:PORT]/]NAME[:TAG|@DIGEST]. Registries on loopback or private
addresses are spoken to in plain HTTP, others in HTTPS unless --no-https. The output is a SIF file, or a sandbox directory
with --sandbox. It is assembled next to IMAGE PATH and moved into place only
when the build succeeded. %post runs as root in a container on the new root
file system (its own mount, PID, IPC and UTS namespaces and /proc, a minimal
/dev, the host's network), not in a chroot.`,
		Example: `  apptainer build debian.sif examples/systemd-debian/systemd-debian.def
  apptainer build --sandbox debian/ debian.sif
  apptainer build --force debian.sif debian/
  apptainer build busybox.sif docker://127.0.0.1:5000/busybox:latest
  apptainer build app.sif docker-archive:app.tar`,
		Args:                  cobra.ExactArgs(2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
			defer stop()
			bo := build.Options{Out: args[0], Source: args[1], Sandbox: o.sandbox, Force: o.force, RunPost: postRunner(configSource(cmd, os.Getenv, stderrLog)),
				Warn: func(msg string) { stderrLog.Warningf("%s", msg) }}
			// Tool output and stage lines only on a terminal, unless -q.
			if term.IsTerminal(int(os.Stderr.Fd())) && stderrLog.level >= levelInfo {
				bo.Progress = os.Stderr
			}
			var err error
			if bo.OCI, err = o.oci.options(os.Getenv); err != nil {
				return err
			}
			bo.ORAS = orasOptions(bo.OCI, os.Getenv)
			if err := build.Build(ctx, bo); err != nil {
				return err
			}
			stderrLog.Infof("Build complete: %s", args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.sandbox, "sandbox", "s", false, "build image as sandbox format (chroot directory structure)")
	f.BoolVarP(&o.force, "force", "F", false, "forcibly delete and overwrite an existing image")
	o.oci.register(cmd)
	return cmd
}
