package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sylabs/sif/v2/pkg/sif"
)

// Partition locates a file system inside a SIF file.
type Partition struct {
	// ID is the SIF descriptor ID.
	ID uint32
	// Offset and Size give the partition's bytes within the file.
	Offset int64
	Size   int64
	// FSType is the file system type as the kernel names it ("squashfs").
	FSType string
	// Arch is the partition's architecture as Go names it ("amd64").
	Arch string
}

// SIF is what the runtime needs from a SIF file.
type SIF struct {
	// Primary is the primary system partition, the container's root.
	Primary Partition
	// Deffile is the definition the image was built from (nil if none).
	Deffile []byte
	// Labels is the JSON object of the image's labels (nil if none).
	Labels []byte
	// Created is when the SIF was made, from its header.
	Created time.Time
}

// LabelsObjectName names the JSON.Generic descriptor holding the labels.
const LabelsObjectName = "labels.json"

// squashfs superblock facts: the magic "hsqs" and the little-endian
// bytes_used field, which must fit inside the partition.
const (
	squashMagic       = 0x73717368
	squashBytesUsedAt = 40
	squashSuperLen    = 96
)

// ReadSIF opens path and checks that it is a SIF whose primary system
// partition is a complete squashfs inside the file.
func ReadSIF(path string) (*SIF, error) {
	if _, err := Detect(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open image %q: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to stat image %q: %w", path, err)
	}
	s, err := readSIF(readOnlyFile{f}, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("could not open image %s: %w", path, err)
	}
	return s, nil
}

// loadSIF loads the descriptors of a SIF held by r, whose length is size,
// once its header and data bounds hold together. It never writes.
func loadSIF(r sif.ReadWriter, size int64) (*sif.FileImage, error) {
	head := make([]byte, headerLen)
	if n, _ := r.ReadAt(head, 0); !HasSIFMagic(head[:n]) {
		return nil, ErrNotSIF
	} else if n < headerLen {
		return nil, fmt.Errorf("%w: header truncated", ErrCorrupt)
	}
	if err := checkHeader(head, size); err != nil {
		return nil, err
	}
	fimg, err := sif.LoadContainer(r, sif.OptLoadWithCloseOnUnload(false))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if end := fimg.DataOffset() + fimg.DataSize(); fimg.DataOffset() < 0 || fimg.DataSize() < 0 || end > size {
		return nil, fmt.Errorf("%w: data ends at byte %d but the file has %d (truncated?)", ErrCorrupt, end, size)
	}
	return fimg, nil
}

// readSIF parses a SIF held by r, whose length is size. It never writes.
func readSIF(r sif.ReadWriter, size int64) (*SIF, error) {
	fimg, err := loadSIF(r, size)
	if err != nil {
		return nil, err
	}
	d, err := fimg.GetDescriptor(sif.WithPartitionType(sif.PartPrimSys))
	if errors.Is(err, sif.ErrObjectNotFound) || errors.Is(err, sif.ErrNoObjects) {
		return nil, ErrNoPartition
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	p, err := partition(d, size)
	if err != nil {
		return nil, err
	}
	if err := checkSquashfs(r, p); err != nil {
		return nil, err
	}
	out := &SIF{Primary: p, Created: fimg.CreatedAt()}
	if dd, err := fimg.GetDescriptor(sif.WithDataType(sif.DataDeffile)); err == nil {
		if out.Deffile, err = dd.GetData(); err != nil {
			return nil, fmt.Errorf("%w: definition file: %w", ErrCorrupt, err)
		}
	}
	if ld, err := fimg.GetDescriptor(sif.WithDataType(sif.DataGenericJSON), withName(LabelsObjectName)); err == nil {
		if out.Labels, err = ld.GetData(); err != nil {
			return nil, fmt.Errorf("%w: labels: %w", ErrCorrupt, err)
		}
	}
	return out, nil
}

// rawDescriptorLen is the size of one SIF v1 descriptor on disk.
const rawDescriptorLen = 585

// checkHeader bounds the descriptor table by the file before the sif
// package allocates it: a corrupt count would otherwise make it allocate
// without limit (or panic on a negative one).
func checkHeader(head []byte, size int64) error {
	field := func(off int) int64 { return int64(binary.LittleEndian.Uint64(head[off:])) }
	total, off, length := field(88), field(96), field(104)
	switch {
	case total < 0 || total > size/rawDescriptorLen:
		return fmt.Errorf("%w: bad descriptor count %d", ErrCorrupt, total)
	case off < headerLen || length < total*rawDescriptorLen || length > size || off > size-length:
		return fmt.Errorf("%w: descriptors at %d (+%d) do not fit in %d bytes (truncated?)", ErrCorrupt, off, length, size)
	}
	return nil
}

func withName(name string) sif.DescriptorSelectorFunc {
	return func(d sif.Descriptor) (bool, error) { return d.Name() == name, nil }
}

// partition checks a system partition descriptor against the file size.
func partition(d sif.Descriptor, size int64) (Partition, error) {
	fs, _, arch, err := d.PartitionMetadata()
	if err != nil {
		return Partition{}, fmt.Errorf("%w: partition %d: %w", ErrCorrupt, d.ID(), err)
	}
	p := Partition{ID: d.ID(), Offset: d.Offset(), Size: d.Size(), Arch: arch}
	if p.Offset < 0 || p.Size <= 0 || p.Offset+p.Size > size || p.Offset+p.Size < p.Offset {
		return Partition{}, fmt.Errorf("%w: partition %d spans bytes %d-%d but the file has %d (truncated?)",
			ErrCorrupt, p.ID, p.Offset, p.Offset+p.Size, size)
	}
	if fs != sif.FsSquash {
		return Partition{}, fmt.Errorf("%w: partition %d is %s, only squashfs can be run", ErrUnsupported, p.ID, fs)
	}
	p.FSType = "squashfs"
	return p, nil
}

// checkSquashfs reads the partition's superblock: a partition that does not
// start with the squashfs magic, or whose squashfs is longer than the
// partition, would only fail later as an obscure mount error.
func checkSquashfs(r sif.ReadWriter, p Partition) error {
	sb := make([]byte, squashSuperLen)
	if n, _ := r.ReadAt(sb, p.Offset); n < squashSuperLen || p.Size < squashSuperLen {
		return fmt.Errorf("%w: partition %d is too short for a squashfs superblock", ErrCorrupt, p.ID)
	}
	if binary.LittleEndian.Uint32(sb) != squashMagic {
		return fmt.Errorf("%w: partition %d does not hold a squashfs file system (bad magic)", ErrCorrupt, p.ID)
	}
	if used := binary.LittleEndian.Uint64(sb[squashBytesUsedAt:]); used > uint64(p.Size) {
		return fmt.Errorf("%w: squashfs in partition %d needs %d bytes but the partition has %d", ErrCorrupt, p.ID, used, p.Size)
	}
	return nil
}

// readOnlyFile lets the sif package load from a file opened read-only: it
// never writes when it only loads, and if it tried, the write would fail.
type readOnlyFile struct{ *os.File }

func (readOnlyFile) Truncate(int64) error { return os.ErrPermission }
