package image

import (
	"errors"
	"fmt"
	"io"
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
	return attachLoop(image, loopRequest{offset: offset, size: size}, maxDevices)
}

// AttachLoopWritable is AttachLoop for a file the mount writes to (an
// overlay image).
func AttachLoopWritable(image string, maxDevices int) (*Loop, error) {
	return attachLoop(image, loopRequest{writable: true}, maxDevices)
}

// loopRequest is what of a file a loop device maps, and how.
type loopRequest struct {
	offset, size int64 // size 0: to the end of the file
	writable     bool
	// lock takes an open file description lock on the mapped bytes
	// (a write lock when writable, else a read lock) before the device
	// is set up; see lockRange.
	lock bool
}

func attachLoop(image string, req loopRequest, maxDevices int) (*Loop, error) {
	if maxDevices <= 0 {
		return nil, fmt.Errorf("failed to attach %s to a loop device: no loop devices allowed (max loop devices = %d)", image, maxDevices)
	}
	mode := os.O_RDONLY
	if req.writable {
		mode = os.O_RDWR
	}
	backing, err := os.OpenFile(image, mode|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open image %q: %w", image, err)
	}
	defer backing.Close()
	if req.lock {
		if err := lockRange(backing, req.offset, req.size, req.writable); err != nil {
			return nil, err
		}
	}
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
		l, err := configureLoop(n, backing, req.offset, req.size, req.writable)
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

// lockRange locks size bytes of f at offset (0: to the end) with an open
// file description lock, as upstream locks ext3 images: one writer, or any
// number of readers. The loop device holds f's open file description for
// as long as it is attached, so the lock lasts exactly as long as the
// device, however the container ends, and a second mount of the same
// bytes, by this container or another, is refused instead of two kernels'
// views of one ext3 journal corrupting it. A file system without locks
// (ENOLCK) goes unlocked, as upstream's.
func lockRange(f *os.File, offset, size int64, write bool) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Start: offset, Len: size}
	if write {
		lk.Type = unix.F_WRLCK
	}
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	switch {
	case err == nil, errors.Is(err, unix.ENOLCK):
		return nil
	case (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES)) && write:
		return fmt.Errorf("can't open %s for writing, currently in use by another process", f.Name())
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES):
		return fmt.Errorf("can't open %s for reading, currently in use for writing by another process", f.Name())
	}
	return fmt.Errorf("failed to lock %s: %w", f.Name(), err)
}
