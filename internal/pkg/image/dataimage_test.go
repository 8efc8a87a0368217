package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sylabs/sif/v2/pkg/sif"
)

func TestChooseSIFPart(t *testing.T) {
	parts := []sifPart{
		{ID: 2, Offset: 100, Size: 10, Fs: sif.FsSquash, PartType: sif.PartPrimSys},
		{ID: 3, Offset: 200, Size: 20, Fs: sif.FsExt3, PartType: sif.PartData},
		{ID: 4, Offset: 300, Size: 30, Fs: sif.FsSquash, PartType: sif.PartData},
		{ID: 5, Offset: 400, Size: 40, Fs: sif.FsRaw, PartType: sif.PartData},
	}
	for _, tc := range []struct {
		name  string
		parts []sifPart
		id    uint32
		want  DataPart
		err   string
	}{
		{"first data partition", parts, 0, DataPart{Offset: 200, Size: 20, FSType: "ext3"}, ""},
		{"by id, the root file system too", parts, 2, DataPart{Offset: 100, Size: 10, FSType: "squashfs"}, ""},
		{"by id, a later data partition", parts, 4, DataPart{Offset: 300, Size: 30, FSType: "squashfs"}, ""},
		{"no such id", parts, 9, DataPart{}, "no partition with id 9 in x.sif"},
		{"raw partition", parts, 5, DataPart{}, "Raw is not supported"},
		{"no data partition", parts[:1], 0, DataPart{}, "no data partition found in x.sif"},
		{"no partition at all", nil, 0, DataPart{}, "no data partition found in x.sif"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseSIFPart(tc.parts, tc.id, "x.sif")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestSniffFS(t *testing.T) {
	ext := make([]byte, extMagicOffset+2)
	ext[extMagicOffset], ext[extMagicOffset+1] = 0x53, 0xef
	for _, tc := range []struct {
		name string
		head []byte
		want string
	}{
		{"squashfs", []byte("hsqs and more"), "squashfs"},
		{"ext", ext, "ext3"},
		{"short", []byte("hs"), ""},
		{"text", []byte("#!/bin/sh\necho hello\n"), ""},
		{"empty", nil, ""},
	} {
		if got := sniffFS(tc.head); got != tc.want {
			t.Errorf("%s: sniffFS = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// ext3Of makes a small ext3 file system image, or skips.
func ext3Of(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("mkfs.ext3"); err != nil {
		t.Skip("mkfs.ext3 not installed")
	}
	img := filepath.Join(t.TempDir(), "data.ext3")
	if out, err := exec.Command("mkfs.ext3", "-q", "-F", img, "2M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext3: %v: %s", err, out)
	}
	return img
}

// dataSIF writes a SIF holding only data partitions, as `apptainer sif new`
// and `sif add --parttype 3` make.
func dataSIF(t *testing.T, files map[sif.FSType]string) string {
	t.Helper()
	var dis []sif.DescriptorInput
	for _, fs := range []sif.FSType{sif.FsSquash, sif.FsExt3} {
		path, ok := files[fs]
		if !ok {
			continue
		}
		f, err := os.Open(path)
		must(t, err)
		t.Cleanup(func() { f.Close() })
		di, err := sif.NewDescriptorInput(sif.DataPartition, f, sif.OptPartitionMetadata(fs, sif.PartData, "amd64"))
		must(t, err)
		dis = append(dis, di)
	}
	out := filepath.Join(t.TempDir(), "data.sif")
	fimg, err := sif.CreateContainerAtPath(out, sif.OptCreateWithDescriptors(dis...))
	must(t, err)
	must(t, fimg.UnloadContainer())
	return out
}

func TestFindDataPart(t *testing.T) {
	sq := squashfsOf(t)
	ext := ext3Of(t)
	both := dataSIF(t, map[sif.FSType]string{sif.FsSquash: sq, sif.FsExt3: ext})
	onlyExt := dataSIF(t, map[sif.FSType]string{sif.FsExt3: ext})
	rootSIF, _ := writeTestSIF(t)
	text := filepath.Join(t.TempDir(), "notes.txt")
	must(t, os.WriteFile(text, []byte("not an image\n"), 0o644))

	for _, tc := range []struct {
		name, path string
		id         uint32
		fs         string
		err        string
	}{
		{"squashfs file", sq, 0, "squashfs", ""},
		{"ext3 file", ext, 0, "ext3", ""},
		{"an id is ignored outside a SIF", ext, 7, "ext3", ""},
		{"SIF: first data partition", both, 0, "squashfs", ""},
		{"SIF: ext3 data partition", onlyExt, 0, "ext3", ""},
		{"SIF: the root file system by id", rootSIF, 3, "squashfs", ""},
		{"SIF without data partition", rootSIF, 0, "", "no data partition found"},
		{"directory", t.TempDir(), 0, "", "a directory is not a SIF, squashfs or ext3 image"},
		{"other file", text, 0, "", "not a SIF, squashfs or ext3 image"},
		{"missing", filepath.Join(t.TempDir(), "none"), 0, "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := FindDataPart(tc.path, tc.id)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || p.FSType != tc.fs {
				t.Fatalf("= %+v, %v; want %s", p, err, tc.fs)
			}
			if p.FSType == "squashfs" && p.Writable() {
				t.Error("a squashfs is writable")
			}
		})
	}
	// The partition found is the bytes of the file system put in.
	p, err := FindDataPart(onlyExt, 0)
	must(t, err)
	want, err := os.ReadFile(ext)
	must(t, err)
	f, err := os.Open(onlyExt)
	must(t, err)
	defer f.Close()
	got := make([]byte, p.Size)
	if _, err := f.ReadAt(got, p.Offset); err != nil || string(got) != string(want) || p.Size != int64(len(want)) {
		t.Errorf("the partition at %d (+%d) is not the ext3 image (%v)", p.Offset, p.Size, err)
	}
}
