package hostnet

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestInfinibandDevices(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"uverbs0", "uverbs1", "uverbs12", "rdma_cm", "umad0", "umad1", "issm0", "issm1", "uverbsX", "uverbs", "rdma_cm0"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A directory with a matching name is not a device node.
	if err := os.Mkdir(filepath.Join(dir, "uverbs9"), 0o700); err != nil {
		t.Fatal(err)
	}

	got, err := InfinibandDevices(dir)
	if err != nil {
		t.Fatalf("InfinibandDevices() error: %v", err)
	}
	var want []string
	for _, n := range []string{"rdma_cm", "uverbs0", "uverbs1", "uverbs12"} {
		want = append(want, filepath.Join(dir, n))
	}
	if !slices.Equal(got, want) {
		t.Errorf("InfinibandDevices() = %q, want %q", got, want)
	}
}

func TestInfinibandDevicesMissingDir(t *testing.T) {
	got, err := InfinibandDevices(filepath.Join(t.TempDir(), "infiniband"))
	if err != nil {
		t.Fatalf("InfinibandDevices() error: %v", err)
	}
	if got == nil || len(got) != 0 {
		t.Errorf("InfinibandDevices() = %#v, want an empty list", got)
	}
}

func TestInfinibandDevicesEmptyDir(t *testing.T) {
	got, err := InfinibandDevices(t.TempDir())
	if err != nil || len(got) != 0 {
		t.Errorf("InfinibandDevices() = %q, %v; want an empty list", got, err)
	}
}

func TestInfinibandDevicesNotADir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := InfinibandDevices(f); err == nil {
		t.Error("InfinibandDevices() on a regular file: want an error")
	}
}
