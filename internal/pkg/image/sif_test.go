package image

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sylabs/sif/v2/pkg/sif"
)

// squashfsOf packs a small tree with mksquashfs; tests that need it skip
// when squashfs-tools is missing.
func squashfsOf(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs not installed")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, d := range []string{"usr/sbin", "usr/lib/systemd", ".singularity.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.WriteFile(filepath.Join(root, "usr/lib/systemd/systemd"), []byte("init\n"), 0o755))
	must(t, os.Symlink("usr/sbin", filepath.Join(root, "sbin")))
	must(t, os.Symlink("../lib/systemd/systemd", filepath.Join(root, "usr/sbin/init")))
	must(t, os.WriteFile(filepath.Join(root, ".singularity.d/runscript"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	sq := filepath.Join(dir, "root.squashfs")
	if out, err := exec.Command("mksquashfs", root, sq, "-noappend", "-quiet", "-no-progress").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v: %s", err, out)
	}
	return sq
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeTestSIF(t *testing.T) (path string, in SIFInput) {
	t.Helper()
	in = SIFInput{Squashfs: squashfsOf(t), Deffile: []byte("Bootstrap: localimage\nFrom: /x\n"), Labels: []byte(`{"a":"b"}`)}
	path = filepath.Join(t.TempDir(), "test.sif")
	must(t, WriteSIF(path, in))
	return path, in
}

func TestSIFRoundTrip(t *testing.T) {
	path, in := writeTestSIF(t)
	if k, err := Detect(path); err != nil || k != KindSIF {
		t.Fatalf("Detect = %q, %v; want sif", k, err)
	}
	s, err := ReadSIF(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Deffile, in.Deffile) || !bytes.Equal(s.Labels, in.Labels) {
		t.Errorf("deffile %q labels %q; want %q %q", s.Deffile, s.Labels, in.Deffile, in.Labels)
	}
	sq, err := os.ReadFile(in.Squashfs)
	must(t, err)
	if s.Primary.Size != int64(len(sq)) || s.Primary.FSType != "squashfs" {
		t.Errorf("primary partition %+v; want squashfs of %d bytes", s.Primary, len(sq))
	}
	f, err := os.ReadFile(path)
	must(t, err)
	if got := f[s.Primary.Offset : s.Primary.Offset+s.Primary.Size]; !bytes.Equal(got, sq) {
		t.Error("partition bytes differ from the squashfs written")
	}
	if !bytes.HasPrefix(f, []byte(LaunchScript)) {
		t.Errorf("file does not start with the launch script")
	}
}

// TestSIFDescriptors checks the descriptors as another SIF reader sees them.
func TestSIFDescriptors(t *testing.T) {
	path, _ := writeTestSIF(t)
	fimg, err := sif.LoadContainerFromPath(path, sif.OptLoadWithFlag(os.O_RDONLY))
	if err != nil {
		t.Fatal(err)
	}
	defer fimg.UnloadContainer()
	var got []sif.DataType
	fimg.WithDescriptors(func(d sif.Descriptor) bool { got = append(got, d.DataType()); return false })
	want := []sif.DataType{sif.DataDeffile, sif.DataGenericJSON, sif.DataPartition}
	if len(got) != len(want) {
		t.Fatalf("descriptors %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("descriptor %d is %v; want %v", i+1, got[i], want[i])
		}
	}
	d, err := fimg.GetDescriptor(sif.WithPartitionType(sif.PartPrimSys))
	if err != nil {
		t.Fatal(err)
	}
	fs, pt, arch, err := d.PartitionMetadata()
	if err != nil || fs != sif.FsSquash || pt != sif.PartPrimSys || arch == "" {
		t.Errorf("partition metadata %v %v %q %v", fs, pt, arch, err)
	}
	if fimg.LaunchScript() != LaunchScript {
		t.Errorf("launch script %q", fimg.LaunchScript())
	}
}

func TestReadSIFRejects(t *testing.T) {
	good, _ := writeTestSIF(t)
	data, err := os.ReadFile(good)
	must(t, err)
	s, err := ReadSIF(good)
	must(t, err)
	dir := t.TempDir()
	corrupt := bytes.Clone(data)
	copy(corrupt[s.Primary.Offset:], "XXXX")
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrNotSIF},
		{"text", []byte("#!/bin/sh\necho not an image\n"), ErrNotSIF},
		{"header only", data[:100], ErrCorrupt},
		{"truncated data", data[:len(data)-4096], ErrCorrupt},
		{"truncated descriptors", data[:200], ErrCorrupt},
		{"bad squashfs magic", corrupt, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			must(t, os.WriteFile(p, c.data, 0o644))
			_, err := ReadSIF(p)
			if !errors.Is(err, c.want) {
				t.Fatalf("ReadSIF error %v; want %v", err, c.want)
			}
		})
	}
}

func FuzzReadSIFHeader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(LaunchScript + "\x00\x00SIF_MAGIC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := readSIF(sif.NewBuffer(bytes.Clone(b)), int64(len(b)))
		if err != nil {
			return
		}
		p := s.Primary
		if p.Offset < 0 || p.Size <= 0 || p.Offset+p.Size > int64(len(b)) {
			t.Fatalf("accepted a partition outside the data: %+v (len %d)", p, len(b))
		}
	})
}
