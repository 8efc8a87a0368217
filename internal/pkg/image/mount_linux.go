package image

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MountSIF mounts the primary system partition of the SIF at path on
// target, read-only. The loop device clears itself when its last mount is
// gone: called in a container's private mount namespace, nothing outlives
// the container. On any error no loop device or mount is left.
func MountSIF(path, target string, maxLoopDevices int) error {
	s, err := ReadSIF(path)
	if err != nil {
		return err
	}
	return MountPartition(path, s.Primary, target, maxLoopDevices)
}

// MountPartition mounts one partition of image on target, read-only.
func MountPartition(image string, p Partition, target string, maxLoopDevices int) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("failed to create mount point %q: %w", target, err)
	}
	loop, err := AttachLoop(image, p.Offset, p.Size, maxLoopDevices)
	if err != nil {
		return err
	}
	flags := uintptr(unix.MS_RDONLY | unix.MS_NODEV)
	if err := unix.Mount(loop.Path, target, p.FSType, flags, ""); err != nil {
		derr := loop.Detach()
		if errors.Is(err, unix.ENODEV) {
			// The kernel has no squashfs; a squashfuse fallback would go
			// here, but it cannot clean itself up with the namespace the
			// way an autoclear loop device does, so it is not attempted.
			err = fmt.Errorf("kernel does not support %s: %w", p.FSType, err)
		}
		return errors.Join(fmt.Errorf("failed to mount %s (%s) on %q: %w", loop.Path, image, target, err), derr)
	}
	// The mount now holds the device; our handle is no longer needed and
	// closing it lets autoclear detach the device at the last unmount.
	if err := loop.Close(); err != nil {
		return fmt.Errorf("failed to close %s: %w", loop.Path, err)
	}
	return nil
}

// MountOverlayImage mounts an ext3 overlay image (an ext2/3/4 file system
// in a file, as `mkfs.ext3 FILE` makes) on target, read-write unless ro,
// through an auto-clearing loop device: it goes with the mount namespace.
func MountOverlayImage(path, target string, ro bool, maxLoopDevices int) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("failed to create mount point %q: %w", target, err)
	}
	flags := uintptr(unix.MS_NODEV | unix.MS_NOSUID)
	if ro {
		flags |= unix.MS_RDONLY
	}
	loop, err := attachLoop(path, loopRequest{writable: !ro, lock: true}, maxLoopDevices)
	if err != nil {
		return err
	}
	if err := unix.Mount(loop.Path, target, "ext3", flags, ""); err != nil {
		return errors.Join(fmt.Errorf("failed to mount overlay image %s (%s) on %q: %w", path, loop.Path, target, err), loop.Detach())
	}
	return loop.Close()
}

// MountDataImage mounts the file system of a data image (FindDataPart) on
// target, for an image bind: squashfs read-only, ext3 read-write unless ro
// (as upstream's), never with setuid or device files in effect. An ext3
// file system is locked while mounted (lockRange). The loop device clears
// itself with the last mount, as MountSIF's. On any error no loop device
// or mount is left.
func MountDataImage(path string, id uint32, ro bool, target string, maxLoopDevices int) error {
	part, err := FindDataPart(path, id)
	if err != nil {
		return err
	}
	writable := part.Writable() && !ro
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("failed to create mount point %q: %w", target, err)
	}
	req := loopRequest{offset: part.Offset, size: part.Size, writable: writable, lock: part.FSType == "ext3"}
	loop, err := attachLoop(path, req, maxLoopDevices)
	if err != nil {
		return err
	}
	flags := uintptr(unix.MS_NODEV | unix.MS_NOSUID)
	if !writable {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount(loop.Path, target, part.FSType, flags, ""); err != nil {
		return errors.Join(fmt.Errorf("failed to mount %s image %s (%s) on %q: %w", part.FSType, path, loop.Path, target, err), loop.Detach())
	}
	return loop.Close()
}
