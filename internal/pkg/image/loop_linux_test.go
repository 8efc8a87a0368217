package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// loopsOf lists loop devices backed by file, from losetup. A losetup that
// fails (or is missing) fails the test: its empty output would otherwise
// read as "no loop device left".
func loopsOf(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-j", file).Output()
	if err != nil {
		t.Fatalf("losetup -j %s: %v", file, err)
	}
	return strings.TrimSpace(string(out))
}

// TestMountSIF mounts a SIF in a private mount namespace of a child
// (unshare), and checks that the loop device is gone with it.
func TestMountSIF(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices and mounts")
	}
	path, _ := writeTestSIF(t)
	target := filepath.Join(t.TempDir(), "mnt")
	// Mount in this process under a private namespace of a locked thread
	// would leak into other tests; a helper process keeps it contained.
	if os.Getenv("IMAGE_TEST_MOUNT") == "" {
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--", os.Args[0], "-test.run=^TestMountSIF$", "-test.v")
		cmd.Env = append(os.Environ(), "IMAGE_TEST_MOUNT="+path, "IMAGE_TEST_TARGET="+target)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "mounted ok") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if l := loopsOf(t, path); l != "" {
			t.Errorf("loop device left after the namespace died: %s", l)
		}
		return
	}
	path, target = os.Getenv("IMAGE_TEST_MOUNT"), os.Getenv("IMAGE_TEST_TARGET")
	if err := MountSIF(path, target, DefaultMaxLoopDevices); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(target, "usr/lib/systemd/systemd"))
	if err != nil || string(b) != "init\n" {
		t.Fatalf("read through the mount: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err == nil {
		t.Fatal("the SIF mount is writable")
	}
	must(t, unix.Unmount(target, 0))
	t.Log("mounted ok")
}

func TestAttachLoopRefusals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices")
	}
	path, _ := writeTestSIF(t)
	if _, err := AttachLoop(path, 0, 4096, 0); err == nil || !strings.Contains(err.Error(), "max loop devices") {
		t.Errorf("max loop devices 0: error %v", err)
	}
	if _, err := AttachLoop(filepath.Join(t.TempDir(), "none"), 0, 4096, 8); err == nil {
		t.Error("attached a missing file")
	}
	// A mount that fails (not a squashfs at offset 0) must not keep the device.
	target := t.TempDir()
	err := MountPartition(path, Partition{Offset: 0, Size: 4096, FSType: "squashfs"}, target, DefaultMaxLoopDevices)
	if err == nil {
		unix.Unmount(target, 0)
		t.Fatal("mounted a SIF header as squashfs")
	}
	if l := loopsOf(t, path); l != "" {
		t.Errorf("loop device left after a failed mount: %s", l)
	}
}
