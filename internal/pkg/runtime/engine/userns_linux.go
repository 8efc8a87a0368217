package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"golang.org/x/sys/unix"
)

// Host ids of user-namespaced instances: slot i of idSlots maps container
// ids 0..65535 to idBase+i*65536 onwards. The range starts right above the
// one systemd-nspawn uses for its own containers (524288..1879048191) and
// stays below 2^31, so it never includes host root or an ordinary user.
const (
	idBase  = 0x70000000
	idSlots = 2048
)

// idSlotDir holds one file per allocated slot, naming its monitor.
func idSlotDir() string { return filepath.Join(RunRoot(), "userns") }

// allocateIDs reserves an id range no running instance uses. The slot file
// records the monitor's PID; a slot whose monitor is gone is reused.
func allocateIDs(size uint32) (uint32, func(), error) {
	if size == 0 || size > 65536 {
		return 0, nil, fmt.Errorf("invalid id map size %d", size)
	}
	dir := idSlotDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return 0, nil, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return 0, nil, err
	}
	for i := 0; i < idSlots; i++ {
		path := filepath.Join(dir, strconv.Itoa(i))
		if b, err := os.ReadFile(path); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && unix.Kill(pid, 0) == nil {
				continue
			}
		}
		if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
			return 0, nil, err
		}
		release := func() { _ = os.Remove(path) }
		return uint32(idBase + i*65536), release, nil
	}
	return 0, nil, errors.New("no free id range for a user namespace: too many instances")
}

// releaseIDsOf frees the slot of host id hostID if the monitor with PID
// pid still holds it: a slot whose monitor died may have been taken since.
func releaseIDsOf(hostID uint32, pid int) {
	if hostID < idBase {
		return
	}
	path := filepath.Join(idSlotDir(), strconv.Itoa(int((hostID-idBase)/65536)))
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pid) {
		_ = os.Remove(path)
	}
}

// userNSMounts are the mounts the privileged side makes for a container
// in a user namespace, as detached mount trees passed over the sync socket:
// the image presented with the container's id map (nothing is chowned or
// copied) and a read-only sysfs, which a user namespace may not mount for
// the host's network namespace.
type userNSMounts struct {
	Image, Sysfs int
	// Binds are the spec's "idmap" binds (the user's --bind), in order:
	// host directories show their host owners inside, not nobody.
	Binds []int
}

func (m userNSMounts) fds() []int { return append([]int{m.Image, m.Sysfs}, m.Binds...) }

// isIDMapBind reports whether a spec mount is an idmapped bind.
func isIDMapBind(opts []string) bool { return slices.Contains(opts, "idmap") }

func (m userNSMounts) close() {
	for _, fd := range m.fds() {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

// prepareUserNSMounts makes the detached mounts for the container whose
// process is pid.
func prepareUserNSMounts(cfg *config.Config, pid int) (m userNSMounts, err error) {
	m = userNSMounts{Image: -1, Sysfs: -1}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	userns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return m, fmt.Errorf("failed to open the container's user namespace: %w", err)
	}
	defer unix.Close(userns)

	kind, err := image.Detect(cfg.Image)
	if err != nil {
		return m, err
	}
	if kind == image.KindSIF {
		m.Image, err = sifTree(cfg)
	} else {
		m.Image, err = unix.OpenTree(unix.AT_FDCWD, cfg.Image, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			err = fmt.Errorf("failed to clone the mount of %s: %w", cfg.Image, err)
		}
	}
	if err != nil {
		return m, err
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)}
	if err := unix.MountSetattr(m.Image, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return m, fmt.Errorf("cannot present %s through an idmapped mount (%w): the kernel (5.12 or later) and the file system holding the image must support idmapped mounts (ext4, xfs, btrfs, tmpfs and squashfs do; overlayfs and most network file systems do not); move the image, or set \"boot hostnet userns = no\" in apptainer.conf", cfg.Image, err)
	}
	if m.Sysfs, err = detachedMount("sysfs", "", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC); err != nil {
		return m, err
	}
	for _, sm := range cfg.Spec.Mounts {
		if !isIDMapBind(sm.Options) {
			continue
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, sm.Source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return m, fmt.Errorf("failed to bind %s: %w", sm.Source, err)
		}
		m.Binds = append(m.Binds, fd)
		bindAttr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV, Userns_fd: uint64(userns)}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &bindAttr); err != nil {
			return m, fmt.Errorf("cannot bind %s through an idmapped mount: %w", sm.Source, err)
		}
	}
	return m, nil
}

// sifTree mounts a SIF's squashfs partition as a detached mount.
func sifTree(cfg *config.Config) (int, error) {
	s, err := image.ReadSIF(cfg.Image)
	if err != nil {
		return -1, err
	}
	maxLoop := image.DefaultMaxLoopDevices
	if cfg.MaxLoopDevices != nil {
		maxLoop = *cfg.MaxLoopDevices
	}
	loop, err := image.AttachLoop(cfg.Image, s.Primary.Offset, s.Primary.Size, maxLoop)
	if err != nil {
		return -1, err
	}
	fd, err := detachedMount(s.Primary.FSType, loop.Path, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		_ = loop.Detach()
		return -1, err
	}
	// The detached mount holds the device; autoclear frees it with the
	// last reference, when the container's mount namespace goes.
	_ = loop.Close()
	return fd, nil
}

// detachedMount creates a mount of fstype that is not attached anywhere
// yet (fsopen/fsmount).
func detachedMount(fstype, source string, attrs int) (int, error) {
	fs, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("failed to open a %s file system: %w", fstype, err)
	}
	defer unix.Close(fs)
	if source != "" {
		if err := unix.FsconfigSetString(fs, "source", source); err != nil {
			return -1, fmt.Errorf("failed to configure %s on %s: %w", fstype, source, err)
		}
	}
	if attrs&unix.MOUNT_ATTR_RDONLY != 0 {
		// A read-only superblock: the loop device under a SIF is read-only.
		if err := unix.FsconfigSetFlag(fs, "ro"); err != nil {
			return -1, fmt.Errorf("failed to configure %s read-only: %w", fstype, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("failed to create a %s file system: %w", fstype, err)
	}
	fd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("failed to mount a %s file system: %w", fstype, err)
	}
	return fd, nil
}

// delegate hands a cgroup, the console and the mount point directory to
// the container's root, as a user namespace cannot take them itself.
func delegate(hostID uint32, cgroupPath, consoleSlave string) error {
	uid, gid := int(hostID), int(hostID)
	if cgroupPath != "" {
		for _, p := range []string{"", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"} {
			if err := os.Chown(filepath.Join(cgroupPath, p), uid, gid); err != nil {
				return fmt.Errorf("failed to delegate cgroup %s: %w", cgroupPath, err)
			}
		}
	}
	if consoleSlave != "" {
		// gid 5 is the tty group inside.
		if err := os.Chown(consoleSlave, uid, gid+5); err != nil {
			return fmt.Errorf("failed to hand the console to the container: %w", err)
		}
	}
	return nil
}

// moveMount attaches a detached mount received from the privileged side.
func moveMount(fd int, target string) error {
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("failed to attach a prepared mount on %s: %w", target, err)
	}
	return nil
}
