package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/ociimage"
	"github.com/apptainer/apptainer/internal/pkg/oras"
)

// ErrExists is returned when the output exists and Force is not set.
var ErrExists = errors.New("build target already exists")

// Options say what to build.
type Options struct {
	// Out is the image to write: a SIF file, or a directory with Sandbox.
	Out string
	// Source is a definition file, a sandbox directory or a SIF.
	Source string
	// Sandbox writes a sandbox directory instead of a SIF.
	Sandbox bool
	// Force replaces an existing Out.
	Force bool
	// Progress, when set, receives a line per stage and the output of the
	// tools run (debootstrap, %post, mksquashfs with its progress bar).
	// When nil that output is kept and quoted in errors.
	Progress io.Writer
	// RunPost runs a %post script as root in a container whose root is
	// rootfs, writable, with namespaces and a /proc of its own (the CLI
	// runs it with the runtime's exec), writing its output to out. The
	// image's programs run there, and must not reach the host through a
	// shared /proc, as they could from a chroot. Required when the
	// definition has a %post section.
	RunPost func(ctx context.Context, rootfs, script string, out io.Writer) error
	// Warn, when set, receives a warning: the build went on past a
	// problem the user should know of.
	Warn func(string)
	// OCI says how to reach the image of a docker, oci, oci-archive or
	// docker-archive source (plain HTTP, layer cache, temporary files).
	OCI ociimage.Options
	// ORAS says how to reach the SIF of an oras:// source or a
	// "Bootstrap: oras" definition.
	ORAS oras.Options
}

// Build builds an image. The new image is assembled in a temporary
// directory next to Out and renamed into place only when complete, so a
// failed build never leaves a half-written Out.
func Build(ctx context.Context, o Options) error {
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return fmt.Errorf("failed to resolve %q: %w", o.Out, err)
	}
	if _, err := os.Lstat(out); err == nil && !o.Force {
		return fmt.Errorf("%w: %s (use --force to overwrite it)", ErrExists, out)
	}
	def, err := loadSource(o.Source)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Dir(out), ".apptainer-build-")
	if err != nil {
		return fmt.Errorf("failed to create build directory next to %q: %w", out, err)
	}
	defer os.RemoveAll(work)
	b := &builder{ctx: ctx, def: def, rootfs: filepath.Join(work, "rootfs"), progress: o.Progress, runPost: o.RunPost, warn: o.Warn, oci: o.OCI, oras: o.ORAS}
	if err := os.Mkdir(b.rootfs, 0o755); err != nil {
		return fmt.Errorf("failed to create %q: %w", b.rootfs, err)
	}
	if err := b.run(); err != nil {
		return err
	}
	if o.Sandbox {
		return replace(b.rootfs, out)
	}
	b.step("Creating SIF file...")
	sq := filepath.Join(work, "rootfs.squashfs")
	if err := b.squash(sq); err != nil {
		return err
	}
	labels, err := readIn(b.rootfs, labelsPath)
	if err != nil {
		return fmt.Errorf("failed to read image labels: %w", err)
	}
	tmp := filepath.Join(work, "image.sif")
	if err := image.WriteSIF(tmp, image.SIFInput{Squashfs: sq, Deffile: def.Raw, Labels: labels}); err != nil {
		return err
	}
	return replace(tmp, out)
}

// loadSource turns the source into a definition: a sandbox or SIF source
// is a "Bootstrap: localimage" definition with no sections, an OCI source
// (docker://REF, oci-archive:FILE) one of its transport's agent.
func loadSource(src string) (*Definition, error) {
	if from, ok := strings.CutPrefix(src, oras.Prefix); ok {
		return Parse(strings.NewReader("Bootstrap: " + BootstrapORAS + "\nFrom: " + strings.TrimLeft(from, "/") + "\n"))
	}
	if ociimage.IsSource(src) {
		s, err := ociimage.ParseSource(src, func(string) bool { return false })
		if err != nil {
			return nil, err
		}
		from, _ := strings.CutPrefix(strings.TrimPrefix(src, s.Transport+":"), "//")
		return Parse(strings.NewReader("Bootstrap: " + s.Transport + "\nFrom: " + from + "\n"))
	}
	if t, ok := image.Transport(src); ok {
		return nil, fmt.Errorf("build source %q: transport %q %w (use docker://, oras://, docker-archive:, oci-archive:, oci:, a definition file, a sandbox directory or a SIF file)",
			src, t, image.ErrTransport)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("failed to open build source %q: %w", src, err)
	}
	if kind, err := image.Detect(src); err == nil || fi.IsDir() {
		if kind == image.KindSIF {
			if _, err := image.ReadSIF(src); err != nil {
				return nil, err
			}
		}
		abs, _ := filepath.Abs(src)
		return Parse(strings.NewReader("Bootstrap: localimage\nFrom: " + abs + "\n"))
	} else if !errors.Is(err, image.ErrNotSIF) {
		return nil, err
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("failed to open definition file %q: %w", src, err)
	}
	defer f.Close()
	d, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return d, nil
}

// replace renames the finished image onto out, removing an old out first
// (the caller checked --force).
func replace(tmp, out string) error {
	if err := os.RemoveAll(out); err != nil {
		return fmt.Errorf("failed to remove the old %q: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("failed to move the new image to %q: %w", out, err)
	}
	return nil
}

// builder holds one build's state.
type builder struct {
	ctx      context.Context
	def      *Definition
	rootfs   string
	progress io.Writer
	runPost  func(ctx context.Context, rootfs, script string, out io.Writer) error
	warn     func(string)
	oci      ociimage.Options
	oras     oras.Options
}

func (b *builder) step(msg string) {
	if b.progress != nil {
		fmt.Fprintf(b.progress, "INFO:    %s\n", msg)
	}
}

// run runs the stages in upstream's order: bootstrap, %setup, %files,
// %post, then the metadata under /.singularity.d.
func (b *builder) run() error {
	b.step("Starting build...")
	if err := b.bootstrap(); err != nil {
		return err
	}
	// %setup, %files and %post may write into /.singularity.d (%post's
	// $APPTAINER_ENVIRONMENT is there), as upstream lets them.
	if err := makeMetaDirs(b.rootfs); err != nil {
		return err
	}
	if err := makeApps(b.rootfs, b.def.Apps); err != nil {
		return err
	}
	if s, ok := b.def.Section("setup"); ok {
		b.step("Running setup scriptlet")
		if err := b.command("%setup", []string{"/bin/sh", "-e", "-c", s.Body},
			"APPTAINER_ROOTFS="+b.rootfs, "SINGULARITY_ROOTFS="+b.rootfs); err != nil {
			return err
		}
	}
	if err := b.copyFiles(); err != nil {
		return err
	}
	if err := b.copyAppFiles(); err != nil {
		return err
	}
	if s, ok := b.def.Section("post"); ok {
		b.step("Running post scriptlet")
		if b.runPost == nil {
			return errors.New("%post needs a container runtime, and none was given")
		}
		if err := b.scriptlet(s.Body); err != nil {
			return fmt.Errorf("%%post failed: %w", err)
		}
	}
	if err := b.installApps(); err != nil {
		return err
	}
	b.step("Adding metadata (runscript, startscript, environment, labels, definition)")
	if err := writeMetadata(b.rootfs, b.def); err != nil {
		return err
	}
	return writeAppMetadata(b.rootfs, b.def.Apps)
}

// copyAppFiles copies each app's %appfiles into its root.
func (b *builder) copyAppFiles() error {
	for _, a := range b.def.Apps {
		files, err := a.Files()
		if err != nil {
			return err
		}
		if len(files) == 0 {
			continue
		}
		b.step("Copying files for app " + a.Name)
		if err := b.copyInto("%appfiles "+a.Name, appRoot(a.Name), files); err != nil {
			return err
		}
	}
	return nil
}

// installApps runs each app's %appinstall as %post runs, from the app's
// root, in app order.
func (b *builder) installApps() error {
	for _, a := range b.def.Apps {
		if !a.Has("appinstall") {
			continue
		}
		b.step("Running appinstall for " + a.Name)
		if b.runPost == nil {
			return errors.New("%appinstall needs a container runtime, and none was given")
		}
		if err := b.scriptlet(appInstallScript(a)); err != nil {
			return fmt.Errorf("%%appinstall %s failed: %w", a.Name, err)
		}
	}
	return nil
}

// scriptlet runs a script in a container on the new root (runPost), its
// output streamed to Progress or kept for the error.
func (b *builder) scriptlet(script string) error {
	var keep bytes.Buffer
	out := b.progress
	if out == nil {
		out = &keep
	}
	if err := b.runPost(b.ctx, b.rootfs, script, out); err != nil {
		return fmt.Errorf("%w%s", err, quoteTail(keep.String()))
	}
	return nil
}

// command runs one tool, streaming to Progress or keeping its output for
// the error.
func (b *builder) command(what string, argv []string, env ...string) error {
	cmd := exec.CommandContext(b.ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var keep bytes.Buffer
	if b.progress != nil {
		cmd.Stdout, cmd.Stderr = b.progress, b.progress
	} else {
		cmd.Stdout, cmd.Stderr = &keep, &keep
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s failed: %w%s", what, err, quoteTail(keep.String()))
	}
	return nil
}

// quoteTail keeps the last lines of a tool's output for an error.
func quoteTail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	if t := strings.Join(lines, "\n"); t != "" {
		return ":\n" + t
	}
	return ""
}
