package image

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// DefaultMaxLoopDevices is apptainer.conf's default "max loop devices".
const DefaultMaxLoopDevices = 256

// loopRetries bounds how often a free loop device is asked for when
// another process takes it between LOOP_CTL_GET_FREE and LOOP_CONFIGURE.
const loopRetries = 8

// Loop is an attached loop device.
type Loop struct {
	// Path is the device node, /dev/loopN.
	Path string
	file *os.File
}

// Close releases our handle. With LO_FLAGS_AUTOCLEAR set the kernel
// detaches the device once it is closed and no longer mounted; Close on a
// device that was never mounted therefore frees it too.
func (l *Loop) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}

// Detach clears the device explicitly (the error path before any mount).
func (l *Loop) Detach() error {
	if l == nil || l.file == nil {
		return nil
	}
	err := unix.IoctlSetInt(int(l.file.Fd()), unix.LOOP_CLR_FD, 0)
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("failed to detach loop device %s: %w", l.Path, err)
	}
	return nil
}

// AttachLoop maps size bytes of image at offset onto a free loop device,
// read-only and auto-clearing. Devices numbered maxDevices or above are
// refused, as apptainer.conf's "max loop devices" says.
func AttachLoop(image string, offset, size int64, maxDevices int) (*Loop, error) {
	return attachLoop(image, offset, size, maxDevices, false)
}

// AttachLoopWritable is AttachLoop for a file the mount writes to (an
// overlay image).
func AttachLoopWritable(image string, maxDevices int) (*Loop, error) {
	return attachLoop(image, 0, 0, maxDevices, true)
}

func attachLoop(image string, offset, size int64, maxDevices int, writable bool) (*Loop, error) {
	if maxDevices <= 0 {
		return nil, fmt.Errorf("failed to attach %s to a loop device: no loop devices allowed (max loop devices = %d)", image, maxDevices)
	}
	mode := os.O_RDONLY
	if writable {
		mode = os.O_RDWR
	}
	backing, err := os.OpenFile(image, mode|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open image %q: %w", image, err)
	}
	defer backing.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open /dev/loop-control: %w", err)
	}
	defer ctl.Close()

	var lastErr error
	for range loopRetries {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("failed to find a free loop device: %w", err)
		}
		if n >= maxDevices {
			return nil, fmt.Errorf("failed to attach %s to a loop device: the next free one is /dev/loop%d, beyond max loop devices (%d)", image, n, maxDevices)
		}
		l, err := configureLoop(n, backing, offset, size, writable)
		if errors.Is(err, unix.EBUSY) {
			lastErr = err // taken by someone else meanwhile: ask again
			continue
		}
		return l, err
	}
	return nil, fmt.Errorf("failed to attach %s to a loop device: %w", image, lastErr)
}

// configureLoop binds backing to /dev/loopN in one LOOP_CONFIGURE call,
// falling back to LOOP_SET_FD + LOOP_SET_STATUS64 on kernels before 5.8.
func configureLoop(n int, backing *os.File, offset, size int64, writable bool) (*Loop, error) {
	path := fmt.Sprintf("/dev/loop%d", n)
	mode, flags := os.O_RDONLY, uint32(unix.LO_FLAGS_AUTOCLEAR|unix.LO_FLAGS_READ_ONLY)
	if writable {
		mode, flags = os.O_RDWR, unix.LO_FLAGS_AUTOCLEAR
	}
	dev, err := os.OpenFile(path, mode|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", path, err)
	}
	info := unix.LoopInfo64{
		Offset:    uint64(offset),
		Sizelimit: uint64(size),
		Flags:     flags,
	}
	copy(info.File_name[:len(info.File_name)-1], backing.Name())
	cfg := unix.LoopConfig{Fd: uint32(backing.Fd()), Info: info}
	err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
		err = setFDAndStatus(dev, backing, &info)
	}
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("failed to configure %s: %w", path, err)
	}
	return &Loop{Path: path, file: dev}, nil
}

func setFDAndStatus(dev, backing *os.File, info *unix.LoopInfo64) error {
	if err := unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_SET_FD, int(backing.Fd())); err != nil {
		return err
	}
	if err := unix.IoctlLoopSetStatus64(int(dev.Fd()), info); err != nil {
		_ = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
		return err
	}
	return nil
}
