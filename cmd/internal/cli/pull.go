package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/apptainer/apptainer/internal/pkg/build"
	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/ociimage"
	"github.com/apptainer/apptainer/internal/pkg/oras"
)

type pullOptions struct {
	force, sandbox bool
	dir            string
	oci            ociFlags
}

func newPullCommand() *cobra.Command {
	o := &pullOptions{oci: ociFlags{archEnv: "PULL_ARCH"}}
	cmd := &cobra.Command{
		Use:   "pull [pull options...] [output file] <URI>",
		Short: "Pull an image from a URI",
		Long: `Pull an OCI image into a SIF file (or a sandbox directory with --sandbox):
docker://[HOST[:PORT]/]NAME[:TAG|@DIGEST], docker-archive:FILE[:REF],
oci-archive:FILE[:REF] or oci:DIR[:REF]; or a SIF file stored in an OCI
registry as an ORAS artifact (see push): oras://[HOST[:PORT]/]NAME[:TAG|@DIGEST].
Without an output file the image is written to NAME_TAG.sif in the current
directory (--dir to choose another). An existing file is not overwritten
without --force. Layers and oras SIF files are kept in the cache
($APPTAINER_CACHEDIR, by default ~/.apptainer/cache) unless --disable-cache.
A download is checked against the digest the registry's manifest gives
before it is written to the output. library:// and shub:// are not
supported by this build.`,
		Example: `  apptainer pull docker://127.0.0.1:5000/busybox:latest
  apptainer pull --force busybox.sif docker://127.0.0.1:5000/busybox:1.36
  apptainer pull image.sif oras://127.0.0.1:5000/namespace/image:tag`,
		Args:                  cobra.RangeArgs(1, 2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			src := args[len(args)-1]
			if err := checkPullSource(src); err != nil {
				return err
			}
			out := pullName(src)
			if len(args) == 2 {
				out = args[0]
			}
			if o.dir != "" {
				out = filepath.Join(o.dir, out)
			}
			force := o.force || envTrue("FORCE", os.Getenv)
			if _, err := os.Lstat(out); err == nil && !force {
				return fmt.Errorf("Image file already exists: %q - will not overwrite", out) //nolint:staticcheck // upstream's message
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
			defer stop()
			if oras.IsRef(src) {
				if err := pullORAS(ctx, o, src, out, force); err != nil {
					return fmt.Errorf("While pulling image from oci registry: %w", err) //nolint:staticcheck // upstream's message
				}
				stderrLog.Infof("Pull complete: %s", out)
				return nil
			}
			bo := build.Options{Out: out, Source: src, Sandbox: o.sandbox, Force: force,
				Warn: func(msg string) { stderrLog.Warningf("%s", msg) }}
			if term.IsTerminal(int(os.Stderr.Fd())) && stderrLog.level >= levelInfo {
				bo.Progress = os.Stderr
			}
			var err error
			if bo.OCI, err = o.oci.options(os.Getenv); err != nil {
				return err
			}
			if err := build.Build(ctx, bo); err != nil {
				return err
			}
			stderrLog.Infof("Pull complete: %s", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.force, "force", "F", false, "overwrite an image file if it exists")
	f.BoolVar(&o.sandbox, "sandbox", false, "build image as sandbox format (chroot directory structure)")
	f.StringVar(&o.dir, "dir", "", "download images to the specific directory")
	o.oci.register(cmd)
	return cmd
}

// pullORAS pulls the SIF of an oras:// reference to out, a file, or a
// sandbox directory made of it.
func pullORAS(ctx context.Context, o *pullOptions, src, out string, force bool) error {
	opts, err := o.oci.options(os.Getenv)
	if err != nil {
		return err
	}
	oo := orasOptions(opts, os.Getenv)
	ref, err := oras.ParseRef(src, oo.Insecure)
	if err != nil {
		return err
	}
	a, err := oras.Resolve(ctx, ref, oo)
	if err != nil {
		return err
	}
	if !o.sandbox {
		_, err := a.PullTo(oo, out)
		return err
	}
	// Without a cache the SIF is only needed until the sandbox is made.
	tmp, err := os.MkdirTemp("", "apptainer-oras-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sif, _, err := a.Fetch(oo, tmp, "image.sif")
	if err != nil {
		return err
	}
	return build.Build(ctx, build.Options{Out: out, Source: sif, Sandbox: true, Force: force,
		Warn: func(msg string) { stderrLog.Warningf("%s", msg) }})
}

// checkPullSource refuses what pull cannot fetch, with upstream's words.
func checkPullSource(src string) error {
	if ociimage.IsSource(src) || oras.IsRef(src) {
		return nil
	}
	if t, ok := image.Transport(src); ok {
		return fmt.Errorf("pull %q: transport %q %w (use docker://, oras://, docker-archive:, oci-archive: or oci:)", src, t, image.ErrTransport)
	}
	return usageError{errors.New("No transport type URI supplied")}
}

// pullName is upstream's default output name: the last path component of
// the reference with its tag, NAME_TAG.sif, the tag "latest" when none is
// given.
func pullName(src string) string {
	_, ref, _ := strings.Cut(src, ":")
	ref = strings.TrimLeft(ref, "/")
	last := ref[strings.LastIndex(ref, "/")+1:]
	container, tag := last, "latest"
	if c, t, ok := strings.Cut(last, ":"); ok {
		container, tag = c, t
		if first, _, ok := strings.Cut(tag, ","); ok {
			tag = first
		}
		if i := strings.Index(tag, ":"); i >= 0 {
			tag = tag[:i]
		}
	}
	return container + "_" + tag + ".sif"
}
