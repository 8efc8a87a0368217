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

// isIDMapBind reports whether a spec mount is an idmapped bind.
func isIDMapBind(opts []string) bool { return slices.Contains(opts, "idmap") }

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
	fd, err := detachedMount(s.Primary.FSType, loop.Path, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV, true)
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
// yet (fsopen/fsmount), with the mount attributes attrs. sbReadOnly makes
// the file system itself read-only too: right for a new one on a read-only
// device, wrong for one whose superblock may be shared (sysfs: one per
// network namespace, the host's included).
func detachedMount(fstype, source string, attrs int, sbReadOnly bool) (int, error) {
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
	if sbReadOnly {
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

// moveMount attaches a detached mount.
func moveMount(fd int, target string) error {
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("failed to attach a prepared mount on %s: %w", target, err)
	}
	return nil
}
