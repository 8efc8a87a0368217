package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/ociimage"
	"github.com/apptainer/apptainer/internal/pkg/oras"
)

// Paths of the metadata inside an image, as upstream lays them out.
const (
	metaDir         = ".singularity.d"
	labelsPath      = metaDir + "/labels.json"
	deffilePath     = metaDir + "/Singularity"
	runscriptPath   = metaDir + "/runscript"
	startscriptPath = metaDir + "/startscript"
	testPath        = metaDir + "/test"
	helpPath        = metaDir + "/runscript.help"
	environmentPath = metaDir + "/env/90-environment.sh"
	baseEnvFirst    = metaDir + "/env/01-base.sh"
	baseEnvLast     = metaDir + "/env/99-base.sh"
)

// EnvironmentPath is $APPTAINER_ENVIRONMENT in %post: what %post appends
// there is sourced in every container of the image, after the
// definition's %environment (90-environment.sh), as upstream.
const EnvironmentPath = "/" + metaDir + "/env/91-environment.sh"

// baseEnvFirstScript and baseEnvLastScript are the environment scripts
// every image gets, sourced first and last: the last puts the runtime's
// library directory at the end of LD_LIBRARY_PATH and sets the prompt.
const (
	baseEnvFirstScript = "#!/bin/sh\n# Written by apptainer build: sourced first in every container of this image.\n"
	baseEnvLastScript  = `#!/bin/sh
# Written by apptainer build: sourced last in every container of this image.
if [ -z "${LD_LIBRARY_PATH:-}" ]; then
	LD_LIBRARY_PATH=/.singularity.d/libs
else
	LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/.singularity.d/libs"
fi
if [ -z "${PS1:-}" ]; then
	PS1="Apptainer> "
fi
export LD_LIBRARY_PATH PS1
`
)

// bootstrap fills the empty root file system.
func (b *builder) bootstrap() error {
	h := b.def.Header
	switch h["bootstrap"] {
	case BootstrapDebootstrap:
		b.step(fmt.Sprintf("Running debootstrap (%s from %s)", h["osversion"], h["mirrorurl"]))
		return b.command("debootstrap", debootstrapArgs(h, b.rootfs))
	case ociimage.TransportDocker, ociimage.TransportDockerArchive, ociimage.TransportOCI, ociimage.TransportOCIArchive:
		return b.bootstrapOCI()
	case BootstrapLocalImage:
		return b.copyLocal(h["from"])
	case BootstrapORAS:
		return b.bootstrapORAS(h["from"])
	}
	return fmt.Errorf("unsupported bootstrap agent %q", h["bootstrap"])
}

// copyLocal fills the root file system with a sandbox's tree or a SIF's
// primary partition.
func (b *builder) copyLocal(from string) error {
	b.step("Copying " + from)
	kind, err := image.Detect(from)
	if err != nil {
		return fmt.Errorf("bootstrap From: %w", err)
	}
	if kind == image.KindSandbox {
		return b.command("copy of "+from, []string{"cp", "-a", from + "/.", b.rootfs})
	}
	s, err := image.ReadSIF(from)
	if err != nil {
		return err
	}
	err = b.command("extraction of "+from, []string{"unsquashfs", "-o", strconv.FormatInt(s.Primary.Offset, 10),
		"-f", "-no-progress", "-d", b.rootfs, from})
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 {
		// unsquashfs exits 2 when it extracted the file system but
		// could not create some files in it (device nodes, where mknod
		// is not allowed): upstream warns and goes on, and so do we.
		if b.warn != nil {
			b.warn(fmt.Sprintf("%v; the build goes on without those files", err))
		}
		return nil
	}
	return err
}

// bootstrapORAS pulls the SIF of an oras reference (through the cache
// when there is one, else into the build directory, removed with it) and
// starts from it as from a local SIF.
func (b *builder) bootstrapORAS(from string) error {
	ref, err := oras.ParseRef(oras.Prefix+from, b.oras.Insecure)
	if err != nil {
		return err
	}
	b.step("Fetching ORAS image " + oras.Prefix + from)
	a, err := oras.Resolve(b.ctx, ref, b.oras)
	if err != nil {
		return fmt.Errorf("while fetching oras image: %w", err)
	}
	sif, _, err := a.Fetch(b.oras, filepath.Dir(b.rootfs), "oras.sif")
	if err != nil {
		return fmt.Errorf("while fetching oras image: %w", err)
	}
	return b.copyLocal(sif)
}

// debootstrapArgs builds the debootstrap command line. Include may list
// packages separated by commas or blanks.
func debootstrapArgs(h map[string]string, rootfs string) []string {
	args := []string{"debootstrap", "--variant=minbase"}
	if inc := strings.FieldsFunc(h["include"], func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }); len(inc) > 0 {
		args = append(args, "--include="+strings.Join(inc, ","))
	}
	return append(args, h["osversion"], rootfs, h["mirrorurl"])
}

// copyFiles runs %files: each source on the host is copied, with cp -a,
// to its destination inside the image.
func (b *builder) copyFiles() error {
	files, err := b.def.Files()
	if err != nil || len(files) == 0 {
		return err
	}
	b.step("Copying files from host")
	return b.copyInto("%files", "/", files)
}

// copyInto copies files to their destinations below dir of the new root.
// A destination is resolved inside the root (filepath-securejoin): a link
// of the source image on the way (/opt -> /etc) stays in the image, and
// nothing of the image runs meanwhile to change it.
func (b *builder) copyInto(what, dir string, files []FileCopy) error {
	for _, f := range files {
		dst, err := securejoin.SecureJoin(b.rootfs, filepath.Join(dir, filepath.Clean("/"+f.Dst)))
		if err != nil {
			return fmt.Errorf("%s: %q: %w", what, f.Dst, err)
		}
		parent, err := securejoin.SecureJoin(b.rootfs, filepath.Dir(strings.TrimPrefix(dst, b.rootfs)))
		if err != nil {
			return fmt.Errorf("%s: %q: %w", what, f.Dst, err)
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("%s: failed to create the parent of %q: %w", what, f.Dst, err)
		}
		if err := b.command(what+" "+f.Src, []string{"cp", "-a", "--", f.Src, dst}); err != nil {
			return err
		}
	}
	return nil
}

// squash packs the root file system. No timestamps are added, so two
// builds of one definition differ only where the files do.
func (b *builder) squash(out string) error {
	args := []string{"mksquashfs", b.rootfs, out, "-noappend", "-comp", "gzip"}
	if b.progress == nil {
		args = append(args, "-no-progress", "-quiet")
	}
	return b.command("mksquashfs", args)
}

// makeMetaDirs makes /.singularity.d and the directories below it,
// inside the new root: the source image may have planted
// /.singularity.d as a link to a host directory.
func makeMetaDirs(rootfs string) error {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, dir := range []string{metaDir, metaDir + "/env", metaDir + "/actions", metaDir + "/libs"} {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("failed to create /%s: %w", dir, err)
		}
	}
	return nil
}

// readIn reads rel inside the new root; a link on the way that leads
// out of it is an error, not a read of a host file.
func readIn(rootfs, rel string) ([]byte, error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(rel)
}

// writeMetadata writes /.singularity.d: scripts, environment, labels, help
// and the definition.
func writeMetadata(rootfs string, d *Definition) error {
	if err := makeMetaDirs(rootfs); err != nil {
		return err
	}
	files := []struct {
		path    string
		content string
		mode    os.FileMode
		write   bool
	}{
		{runscriptPath, script(d, "runscript"), 0o755, has(d, "runscript")},
		{startscriptPath, script(d, "startscript"), 0o755, true},
		{testPath, script(d, "test"), 0o755, has(d, "test")},
		{environmentPath, "#!/bin/sh\n# Custom environment shell code should follow\n\n" + d.Body("environment"), 0o644, has(d, "environment")},
		{helpPath, d.Body("help"), 0o644, has(d, "help")},
		{deffilePath, string(d.Raw), 0o644, true},
		// An image's own base scripts (one copied with localimage) stay.
		{baseEnvFirst, baseEnvFirstScript, 0o755, !exists(rootfs, baseEnvFirst)},
		{baseEnvLast, baseEnvLastScript, 0o755, !exists(rootfs, baseEnvLast)},
	}
	for _, f := range files {
		if !f.write {
			continue
		}
		if err := writeFile(rootfs, f.path, []byte(f.content), f.mode); err != nil {
			return err
		}
	}
	labels, err := labelsJSON(rootfs, d)
	if err != nil {
		return err
	}
	return writeFile(rootfs, labelsPath, labels, 0o644)
}

func exists(rootfs, rel string) bool {
	_, err := os.Lstat(filepath.Join(rootfs, rel))
	return err == nil
}

func has(d *Definition, name string) bool { _, ok := d.Section(name); return ok }

// script makes a %runscript or %startscript body a /bin/sh script.
func script(d *Definition, name string) string {
	return "#!/bin/sh\n\n" + d.Body(name)
}

func writeFile(rootfs, rel string, b []byte, mode os.FileMode) error {
	// Resolved inside the new root: a directory on the way may be a link
	// the source image planted (/scif -> /etc), which must not lead out.
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	rel = strings.TrimPrefix(filepath.Clean("/"+rel), "/")
	if err := root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
		return fmt.Errorf("failed to create the parent of /%s: %w", rel, err)
	}
	// Remove first: a file from the source image may be read-only or a
	// symlink.
	if err := root.Remove(rel); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("failed to replace /%s: %w", rel, err)
	}
	if err := root.WriteFile(rel, b, mode); err != nil {
		return fmt.Errorf("failed to write /%s: %w", rel, err)
	}
	return root.Chmod(rel, mode)
}

// labelsJSON merges the source image's labels with %labels (which win)
// and the schema labels, as an indented JSON object with sorted keys.
func labelsJSON(rootfs string, d *Definition) ([]byte, error) {
	m := map[string]string{}
	if old, err := readIn(rootfs, labelsPath); err == nil {
		_ = json.Unmarshal(old, &m) // a broken old file is replaced
	}
	m["org.label-schema.schema-version"] = "1.0"
	m["org.label-schema.build-arch"] = runtime.GOARCH
	labels, err := d.Labels()
	if err != nil {
		return nil, err
	}
	for _, l := range labels {
		m[l.Key] = l.Value
	}
	// encoding/json writes map keys sorted, so equal labels give equal bytes.
	b, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("failed to encode labels: %w", err)
	}
	return append(b, '\n'), nil
}
