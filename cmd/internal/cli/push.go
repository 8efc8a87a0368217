package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/oras"
)

type pushOptions struct {
	description   string
	annotations   []string
	allowUnsigned bool
	library       string
	oci           ociFlags
}

func newPushCommand() *cobra.Command {
	o := &pushOptions{oci: ociFlags{authOnly: true}}
	cmd := &cobra.Command{
		Use:   "push [push options...] <image> <URI>",
		Short: "Upload image to the provided URI",
		Long: `Upload a SIF file to an OCI registry as an ORAS artifact:
oras://[HOST[:PORT]/]NAME[:TAG] (the tag is "latest" when none is given). The
artifact is laid out as upstream Apptainer lays it out (one layer, the SIF file,
media type application/vnd.sylabs.sif.layer.v1.sif), so either pulls what the
other pushed. Credentials are those of build and pull: registry login, --authfile,
--docker-username/--docker-password. library:// is not supported by this build.`,
		Example: `  apptainer push /home/user/my.sif oras://127.0.0.1:5000/namespace/image:tag
  apptainer push --annotation org.example.team=hpc my.sif oras://127.0.0.1:5000/my:1.0`,
		Args:                  cobra.ExactArgs(2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd, o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.description, "description", "D", "", "description for container image (library:// and oras:// only)")
	f.StringArrayVar(&o.annotations, "annotation", nil, "annotation for container image (oras:// only, key=val format)")
	// Upstream verifies signatures only for library:// pushes, which this
	// build does not make: for oras:// the flag changes nothing there either.
	f.BoolVarP(&o.allowUnsigned, "allow-unsigned", "U", false, "do not require a signed container image (library:// only; oras:// pushes are never verified)")
	f.StringVar(&o.library, "library", "", "the library to push to (library:// is not supported by this build)")
	o.oci.register(cmd)
	return cmd
}

// pushTarget checks the destination: an oras:// reference; library://
// is upstream's but not this build's.
func pushTarget(dest string) error {
	scheme, _, ok := strings.Cut(dest, "://")
	switch {
	case !ok || scheme == "":
		return usageError{fmt.Errorf("bad uri %s", dest)}
	case scheme == "oras":
		return nil
	case scheme == "library":
		return fmt.Errorf("push %q: transport %q %w (use oras://)", dest, scheme, image.ErrTransport)
	}
	return fmt.Errorf("Unsupported transport type: %s", scheme) //nolint:staticcheck // upstream's message
}

// pushAnnotations turns --annotation KEY=VALUE and --description into
// the manifest's annotations; an item with no "=" is warned about and
// left out, as upstream does.
func pushAnnotations(items []string, description string, described bool) map[string]string {
	out := map[string]string{}
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok {
			stderrLog.Warningf("Value missing for %q, not setting", k)
			continue
		}
		out[k] = v
	}
	if described {
		out[oras.AnnotationDescription] = description
	}
	return out
}

func runPush(cmd *cobra.Command, o *pushOptions, file, dest string) error {
	if err := pushTarget(dest); err != nil {
		return err
	}
	if o.library != "" {
		return usageError{errors.New("--library is for library:// pushes, which this build does not make")}
	}
	opts, err := o.oci.options(os.Getenv)
	if err != nil {
		return err
	}
	oo := orasOptions(opts, os.Getenv)
	ref, err := oras.ParseRef(dest, oo.Insecure)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	ann := pushAnnotations(o.annotations, o.description, cmd.Flags().Changed("description"))
	d, err := oras.Push(ctx, file, ref, ann, oo)
	if err != nil {
		return fmt.Errorf("Unable to push image to oci registry: %w", err) //nolint:staticcheck // upstream's message
	}
	stderrLog.Infof("Digest: %s", d)
	stderrLog.Infof("Upload complete")
	return nil
}
