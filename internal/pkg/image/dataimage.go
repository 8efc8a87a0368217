package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sylabs/sif/v2/pkg/sif"
)

// A data image is the source of an image bind (--bind SRC:DST:image-src=
// PATH, or id=N): a squashfs or ext3 file system in a file of its own, or
// a partition of a SIF. Upstream takes the same three.

// ErrNotDataImage: the source of an image bind is none of the kinds above.
var ErrNotDataImage = errors.New("not a SIF, squashfs or ext3 image")

// DataPart is where a data image's file system lies in its file.
type DataPart struct {
	// Offset and Size locate the file system; Size 0 is "to the end".
	Offset, Size int64
	// FSType is the kernel's name for it: "squashfs" or "ext3".
	FSType string
}

// Writable says whether the file system can be mounted read-write:
// squashfs never can.
func (p DataPart) Writable() bool { return p.FSType == "ext3" }

// sifPart is one partition descriptor of a SIF, as FindDataPart weighs it.
type sifPart struct {
	ID       uint32
	Offset   int64
	Size     int64
	Fs       sif.FSType
	PartType sif.PartType
}

// chooseSIFPart picks the partition an image bind of a SIF means: the one
// with descriptor id when id is set (any partition, the root file system
// too, as upstream's), else the first data partition. Only squashfs and
// ext3 partitions can be bound.
func chooseSIFPart(parts []sifPart, id uint32, name string) (DataPart, error) {
	var found *sifPart
	for i := range parts {
		p := &parts[i]
		if (id != 0 && p.ID == id) || (id == 0 && p.PartType == sif.PartData) {
			found = p
			break
		}
	}
	switch {
	case found == nil && id != 0:
		return DataPart{}, fmt.Errorf("no partition with id %d in %s (see apptainer sif list)", id, name)
	case found == nil:
		return DataPart{}, fmt.Errorf("no data partition found in %s", name)
	}
	dp := DataPart{Offset: found.Offset, Size: found.Size}
	switch found.Fs {
	case sif.FsSquash:
		dp.FSType = "squashfs"
	case sif.FsExt3:
		dp.FSType = "ext3"
	default:
		return DataPart{}, fmt.Errorf("could not use partition %d of %s for image binding: %s is not supported (squashfs or ext3)", found.ID, name, found.Fs)
	}
	return dp, nil
}

// sniffFS names the file system a data image file starts with, from its
// first bytes: squashfs's magic at 0, ext2/3/4's at 1080.
func sniffFS(head []byte) string {
	if len(head) >= 4 && binary.LittleEndian.Uint32(head) == squashMagic {
		return "squashfs"
	}
	if len(head) >= extMagicOffset+2 && head[extMagicOffset] == 0x53 && head[extMagicOffset+1] == 0xef {
		return "ext3"
	}
	return ""
}

// FindDataPart tells what the file at path holds for an image bind with
// descriptor id (0: none). id means something for a SIF only; elsewhere
// it is ignored, as upstream's. A directory, or a file of any other kind,
// is ErrNotDataImage.
func FindDataPart(path string, id uint32) (DataPart, error) {
	f, err := os.Open(path)
	if err != nil {
		return DataPart{}, fmt.Errorf("image bind: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return DataPart{}, fmt.Errorf("image bind: %w", err)
	}
	if fi.IsDir() {
		return DataPart{}, fmt.Errorf("could not use %s for image binding: a directory is %w", path, ErrNotDataImage)
	}
	head := make([]byte, extMagicOffset+2)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return DataPart{}, fmt.Errorf("failed to read %s: %w", path, err)
	}
	head = head[:n]
	if HasSIFMagic(head) {
		parts, err := sifParts(f, fi.Size())
		if err != nil {
			return DataPart{}, fmt.Errorf("could not open image %s: %w", path, err)
		}
		return chooseSIFPart(parts, id, path)
	}
	if fs := sniffFS(head); fs != "" {
		return DataPart{FSType: fs}, nil
	}
	return DataPart{}, fmt.Errorf("could not use %s for image binding: %w", path, ErrNotDataImage)
}

// sifParts lists the partition descriptors of the SIF in f, checked
// against the file's size.
func sifParts(f *os.File, size int64) ([]sifPart, error) {
	fimg, err := loadSIF(readOnlyFile{f}, size)
	if err != nil {
		return nil, err
	}
	ds, err := fimg.GetDescriptors(sif.WithDataType(sif.DataPartition))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	parts := make([]sifPart, 0, len(ds))
	for _, d := range ds {
		fs, pt, _, err := d.PartitionMetadata()
		if err != nil {
			return nil, fmt.Errorf("%w: partition %d: %w", ErrCorrupt, d.ID(), err)
		}
		p := sifPart{ID: d.ID(), Offset: d.Offset(), Size: d.Size(), Fs: fs, PartType: pt}
		if p.Offset < 0 || p.Size <= 0 || p.Offset+p.Size > size || p.Offset+p.Size < p.Offset {
			return nil, fmt.Errorf("%w: partition %d spans bytes %d-%d but the file has %d (truncated?)", ErrCorrupt, p.ID, p.Offset, p.Offset+p.Size, size)
		}
		parts = append(parts, p)
	}
	return parts, nil
}
