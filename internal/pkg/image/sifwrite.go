package image

import (
	"bytes"
	"fmt"
	"os"
	"runtime"

	"github.com/sylabs/sif/v2/pkg/sif"
)

// LaunchScript is the first line of every SIF we write, so that an
// executable SIF runs through the runtime.
const LaunchScript = "#!/usr/bin/env run-singularity\n"

// SIFInput is what goes into a new SIF file.
type SIFInput struct {
	// Squashfs is the path of the root file system image (mksquashfs output).
	Squashfs string
	// Deffile is the definition the image was built from (optional).
	Deffile []byte
	// Labels is a JSON object of labels (optional).
	Labels []byte
	// Arch is the partition architecture; empty means this machine's.
	Arch string
}

// WriteSIF writes a SIF at out holding, in this order, the definition, the
// labels and the squashfs as the primary system partition. out must not
// exist; callers write to a temporary name and rename.
func WriteSIF(out string, in SIFInput) error {
	sq, err := os.Open(in.Squashfs)
	if err != nil {
		return fmt.Errorf("failed to open squashfs %q: %w", in.Squashfs, err)
	}
	defer sq.Close()
	arch := in.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	var dis []sif.DescriptorInput
	if len(in.Deffile) > 0 {
		di, err := sif.NewDescriptorInput(sif.DataDeffile, bytes.NewReader(in.Deffile))
		if err != nil {
			return fmt.Errorf("failed to add the definition to %q: %w", out, err)
		}
		dis = append(dis, di)
	}
	if len(in.Labels) > 0 {
		di, err := sif.NewDescriptorInput(sif.DataGenericJSON, bytes.NewReader(in.Labels), sif.OptObjectName(LabelsObjectName))
		if err != nil {
			return fmt.Errorf("failed to add labels to %q: %w", out, err)
		}
		dis = append(dis, di)
	}
	part, err := sif.NewDescriptorInput(sif.DataPartition, sq,
		sif.OptPartitionMetadata(sif.FsSquash, sif.PartPrimSys, arch))
	if err != nil {
		return fmt.Errorf("failed to add the root file system to %q: %w", out, err)
	}
	dis = append(dis, part)
	f, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return fmt.Errorf("failed to create %q: %w", out, err)
	}
	fimg, err := sif.CreateContainer(f, sif.OptCreateWithLaunchScript(LaunchScript),
		sif.OptCreateWithDescriptors(dis...), sif.OptCreateWithCloseOnUnload(false))
	if err == nil {
		err = fimg.UnloadContainer()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
		return fmt.Errorf("failed to write SIF %q: %w", out, err)
	}
	return nil
}
