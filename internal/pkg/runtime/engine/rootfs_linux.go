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
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A container's root file system is built in two phases.
//
// The outside phase needs privileges over a mount namespace and nothing of
// the container's own namespaces: the session tmpfs, the image and its
// overlay, the generated files, binds, sysfs, device nodes and tmpfs
// mounts. The inside phase needs the container's namespaces: proc for its
// PID namespace, cgroup2 for its cgroup namespace, devpts and mqueue, and
// what lies below them (/proc/sys read-only).
//
// Without a user namespace the container stage runs both phases. With one,
// the monitor runs the outside phase in a mount namespace of its own, which
// the initial user namespace owns, and the stage, already in the
// container's user namespace, copies that namespace with
// unshare(CLONE_NEWNS) and runs the inside phase in the copy. The copy is
// what protects: the kernel locks the flags of every mount copied into a
// namespace owned by a less privileged user namespace, so root in the
// container cannot remount a read-only bind, the image, sysfs or the
// generated /etc files read-write (or lift nosuid, nodev, noexec). Flags set
// in a namespace the container's user namespace owns are not locked, which
// is why the stage may not simply receive finished mounts and set their
// flags itself.

// insideTypes are the file systems only the container's own namespaces can
// mount.
var insideTypes = []string{"proc", "cgroup", "cgroup2", "devpts", "mqueue"}

// splitMounts divides the spec's mounts between the outside and the
// inside phase, keeping their order. A mount at or below the destination
// of an inside mount is inside too: it needs that mount to exist.
func splitMounts(mounts []specs.Mount) (outside, inside []specs.Mount) {
	var insideDests []string
	for _, m := range mounts {
		dest := filepath.Clean("/" + m.Destination)
		in := slices.Contains(insideTypes, m.Type)
		for _, d := range insideDests {
			if dest == d || strings.HasPrefix(dest, d+"/") {
				in = true
			}
		}
		if in {
			insideDests = append(insideDests, dest)
			inside = append(inside, m)
		} else {
			outside = append(outside, m)
		}
	}
	return outside, inside
}

// mappedOwner is the host id that the root of a container's user namespace
// is, and that namespace, whose id map idmapped mounts use.
type mappedOwner struct {
	hostID   int
	usernsFD int
}

// assembler builds a container's root file system.
type assembler struct {
	cfg *config.Config
	// session is the session tmpfs; the root is session/root.
	session string
	// owner is set when the container has a user namespace: what is made
	// for the container is owned by its root, and host files are seen
	// through idmapped mounts.
	owner *mappedOwner
	// unprivileged is an ordinary user's container (unpriv_linux.go).
	unprivileged bool
	// hostMounts are the mounts (their ids) of the host directories bound
	// into the root so far (see confined).
	hostMounts map[uint64]bool
}

// boundFromHost records the mount at target when its source is the
// host's, not one the runtime made (the session, the runtime directory).
func (a *assembler) boundFromHost(source, target string) {
	for _, own := range []string{a.session, a.cfg.RunDir} {
		if own != "" && (source == own || strings.HasPrefix(source, own+"/")) {
			return
		}
	}
	id, err := mountID(target)
	if err != nil {
		return
	}
	if a.hostMounts == nil {
		a.hostMounts = map[uint64]bool{}
	}
	a.hostMounts[id] = true
}

// mountID is the id of the mount path is on (statx, Linux 5.8): two binds
// of one file system have different ones.
func mountID(path string) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, err
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, errors.New("no mount id")
	}
	return stx.Mnt_id, nil
}

func (a *assembler) root() string { return filepath.Join(a.session, "root") }

// outside runs the outside phase: everything but the inside mounts, whose
// mount points it makes so that a read-only root can still take them.
func (a *assembler) outside() error {
	if err := a.mountSession(); err != nil {
		return err
	}
	if err := a.mountRootfs(); err != nil {
		return err
	}
	if err := a.writeFiles(); err != nil {
		return err
	}
	outside, inside := splitMounts(a.cfg.Spec.Mounts)
	for _, m := range outside {
		if err := a.mountSpec(m); err != nil {
			return err
		}
	}
	if err := makeDevices(a.root(), a.cfg.Spec.Linux.Devices, a.owner != nil || a.unprivileged); err != nil {
		return err
	}
	for _, l := range a.cfg.Symlinks {
		p, err := securePath(a.root(), l.Path)
		if err != nil {
			return err
		}
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.Symlink(l.Target, p); err != nil {
			return fmt.Errorf("failed to create symlink %s: %w", l.Path, err)
		}
		a.own(p)
	}
	for _, m := range inside {
		target, err := mountTarget(a.root(), m.Destination, false)
		if err != nil {
			return err
		}
		if err := a.confined(m.Destination, target); err != nil {
			return err
		}
		if err := a.mountPoint(target, true); err != nil {
			return fmt.Errorf("failed to create mount point %s: %w", m.Destination, err)
		}
	}
	return a.finishRootfs()
}

// mountSession mounts the session tmpfs.
func (a *assembler) mountSession() error {
	if err := os.MkdirAll(a.session, 0o755); err != nil {
		return fmt.Errorf("failed to create session directory %s: %w", a.session, err)
	}
	return mount("tmpfs", a.session, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755")
}

// mountRootfs assembles the image as the new root in the session directory.
// Only --writable binds the image itself. Everything else gets an overlay
// with a tmpfs upper layer, so mount points missing from the image can be
// created without touching it; a read-only root is made read-only once the
// mounts are done (see finishRootfs).
func (a *assembler) mountRootfs() error {
	cfg := a.cfg
	if err := os.MkdirAll(a.root(), 0o755); err != nil {
		return err
	}
	kind := image.Kind(cfg.ImageKind)
	if kind == "" {
		var err error
		if kind, err = image.Detect(cfg.Image); err != nil {
			return err
		}
	}
	if a.unprivileged {
		return a.unprivilegedRootfs(kind)
	}
	if a.owner != nil {
		// The image, SIF or not, is seen through an idmapped mount: its
		// files keep their owners as the container's ids.
		lower := filepath.Join(a.session, "image")
		if err := os.Mkdir(lower, 0o755); err != nil {
			return err
		}
		fd, err := a.idmappedImage(kind)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := moveMount(fd, lower); err != nil {
			return err
		}
		return a.overlayRoot(lower)
	}
	lower := cfg.Image
	if kind == image.KindSIF {
		if cfg.Rootfs == config.RootfsWritable {
			return fmt.Errorf("cannot use --writable with SIF image %s: its file system is read-only (use --writable-tmpfs)", cfg.Image)
		}
		// The squashfs is the overlay's lower layer; its auto-clearing
		// loop device goes away with this mount namespace.
		lower = filepath.Join(a.session, "image")
		maxLoop := image.DefaultMaxLoopDevices
		if cfg.MaxLoopDevices != nil {
			maxLoop = *cfg.MaxLoopDevices
		}
		if err := image.MountSIF(cfg.Image, lower, maxLoop); err != nil {
			return err
		}
	}
	if cfg.Rootfs == config.RootfsWritable {
		return mount(cfg.Image, a.root(), "", unix.MS_BIND|unix.MS_REC, "")
	}
	return a.overlayRoot(lower)
}

// idmappedImage returns the image as a detached mount presented with the
// container's id map.
func (a *assembler) idmappedImage(kind image.Kind) (int, error) {
	var fd int
	var err error
	if kind == image.KindSIF {
		fd, err = sifTree(a.cfg)
	} else {
		fd, err = unix.OpenTree(unix.AT_FDCWD, a.cfg.Image, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			err = fmt.Errorf("failed to clone the mount of %s: %w", a.cfg.Image, err)
		}
	}
	if err != nil {
		return -1, err
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(a.owner.usernsFD)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("cannot present %s through an idmapped mount (%w): the kernel (5.12 or later) and the file system holding the image must support idmapped mounts (ext4, xfs, btrfs, tmpfs and squashfs do; overlayfs and most network file systems do not); move the image, or set \"boot hostnet userns = no\" in apptainer.conf", a.cfg.Image, err)
	}
	return fd, nil
}

// overlayRoot mounts the root as an overlay of lower with a tmpfs upper
// layer (the session directory is a tmpfs). The upper layer's root is the
// root directory the container sees, so its root owns it.
func (a *assembler) overlayRoot(lower string) error {
	upper, work := filepath.Join(a.session, "upper"), filepath.Join(a.session, "work")
	lowers := []string{lower}
	if ov := a.cfg.Overlay; ov != nil {
		// --overlay: read-only layers above the image, and a writable
		// one in place of the tmpfs upper layer.
		layers, err := a.overlayLayers(ov)
		if err != nil {
			return err
		}
		lowers = append(layers[:len(ov.Lower):len(ov.Lower)], lower)
		if ov.Upper != "" {
			upper, work = filepath.Join(layers[len(ov.Lower)], "upper"), filepath.Join(layers[len(ov.Lower)], "work")
		}
	}
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("failed to prepare overlay directory %s: %w", d, err)
		}
		a.own(d)
	}
	for _, l := range lowers {
		if strings.ContainsAny(l, ",:") {
			return fmt.Errorf("overlay layer %s: a path with a comma or colon cannot be an overlay layer", l)
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"), upper, work)
	if a.unprivileged {
		if err := shadowParents(lower, upper, mountParents(a.cfg)); err != nil {
			return err
		}
		if err := shadowLinks(lower, upper, bindDestinations(a.cfg)); err != nil {
			return err
		}
		return unprivilegedOverlay(a.root(), data)
	}
	return mount("overlay", a.root(), "overlay", 0, data)
}

// overlayLayers returns the directories of ov's layers, lower ones first
// and then the upper one: an overlay image file is mounted in the session
// (read-only for a lower layer), and its "upper" directory is a lower
// layer; a directory is itself.
func (a *assembler) overlayLayers(ov *config.Overlay) ([]string, error) {
	maxLoop := a.maxLoop()
	paths := slices.Clone(ov.Lower)
	if ov.Upper != "" {
		paths = append(paths, ov.Upper)
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p
		if !slices.Contains(ov.Images, p) {
			continue
		}
		mnt := filepath.Join(a.session, fmt.Sprintf("overlay-%d", i))
		ro := i < len(ov.Lower)
		if err := image.MountOverlayImage(p, mnt, ro, maxLoop); err != nil {
			return nil, err
		}
		out[i] = mnt
		if ro {
			out[i] = filepath.Join(mnt, "upper")
		}
	}
	return out, nil
}

// finishRootfs makes a read-only root read-only, after its mount points
// were made.
func (a *assembler) finishRootfs() error {
	if a.cfg.Rootfs != config.RootfsReadOnly {
		return nil
	}
	return mount("", a.root(), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

// writeFiles writes the generated files into the session directory.
func (a *assembler) writeFiles() error {
	dir := filepath.Join(a.session, "files")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for _, f := range a.cfg.Files {
		if strings.Contains(f.Name, "/") {
			return fmt.Errorf("invalid generated file name %q", f.Name)
		}
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, f.Content, os.FileMode(f.Mode)); err != nil {
			return fmt.Errorf("failed to write %s: %w", f.Name, err)
		}
		a.own(p)
	}
	return nil
}

// mountSpec performs one outside spec mount.
func (a *assembler) mountSpec(m specs.Mount) error {
	flags, data, readOnly := parseMountOptions(m.Options)
	if a.owner != nil && isIDMapBind(m.Options) {
		return a.idmappedBind(m, readOnly)
	}
	source, err := a.source(m.Source)
	if err != nil {
		return fmt.Errorf("mount of %s: %w", m.Destination, err)
	}
	isDir := true
	if flags&unix.MS_BIND != 0 {
		fi, err := os.Stat(source)
		if err != nil {
			return fmt.Errorf("failed to bind %s: %w", m.Destination, err)
		}
		isDir = fi.IsDir()
	}
	target, err := mountTarget(a.root(), m.Destination, flags&unix.MS_BIND != 0 && a.cfg.Rootfs != config.RootfsWritable)
	if err != nil {
		return err
	}
	if err := a.confined(m.Destination, target); err != nil {
		return err
	}
	if err := a.mountPoint(target, isDir); err != nil {
		return fmt.Errorf("failed to create mount point %s: %w", m.Destination, err)
	}
	if m.Type == "sysfs" && a.owner != nil {
		// A user namespace may not mount the sysfs of a network
		// namespace it does not own; read-only as a mount, never as a
		// file system (one superblock per network namespace: the host's).
		fd, err := detachedMount("sysfs", "", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, false)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return moveMount(fd, target)
	}
	fstype := m.Type
	switch fstype {
	case "bind":
		fstype = ""
	case "tmpfs":
		data = a.ownedTmpfs(data)
	}
	if err := mount(source, target, fstype, flags, data); err != nil {
		return err
	}
	if flags&unix.MS_BIND != 0 {
		a.boundFromHost(source, target)
	}
	if readOnly {
		// Always the mount, never its file system: a plain remount of a
		// sysfs sharing the host's network namespace would make the
		// host's own /sys read-only (one superblock per namespace).
		return remountReadOnly(target, flags&^(unix.MS_BIND|unix.MS_REC))
	}
	return nil
}

// source resolves the runtime's own source prefixes: generated files in
// the session, files in the instance's runtime directory.
func (a *assembler) source(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, config.SessionSource):
		return filepath.Join(a.session, "files", strings.TrimPrefix(s, config.SessionSource)), nil
	case strings.HasPrefix(s, config.RunDirSource):
		if a.cfg.RunDir == "" {
			return "", errors.New("it needs the instance runtime directory")
		}
		return filepath.Join(a.cfg.RunDir, strings.TrimPrefix(s, config.RunDirSource)), nil
	case strings.HasPrefix(s, config.ImageBindSource):
		return a.imageBindSource(strings.TrimPrefix(s, config.ImageBindSource))
	}
	return s, nil
}

// imageBindSource mounts the image of ImageBinds[index] in the session
// and returns the directory to bind from inside it. The path is resolved
// within the image's file system: a symbolic link in the image (hostile
// content, like any image's) cannot lead the bind to a host directory.
func (a *assembler) imageBindSource(index string) (string, error) {
	i, err := strconv.Atoi(index)
	if err != nil || i < 0 || i >= len(a.cfg.ImageBinds) {
		return "", fmt.Errorf("no image bind %q", index)
	}
	b := a.cfg.ImageBinds[i]
	mnt := filepath.Join(a.session, "data-images", strconv.Itoa(i))
	if err := image.MountDataImage(b.Image, b.ID, b.ReadOnly, mnt, a.maxLoop()); err != nil {
		return "", err
	}
	src, err := securePath(mnt, b.Path)
	if err != nil {
		return "", fmt.Errorf("%s in image %s: %w", b.Path, b.Image, err)
	}
	if _, err := os.Stat(src); err != nil {
		return "", fmt.Errorf("%s doesn't exist in image %s", b.Path, b.Image)
	}
	return src, nil
}

// maxLoop is apptainer.conf's "max loop devices".
func (a *assembler) maxLoop() int {
	if a.cfg.MaxLoopDevices != nil {
		return *a.cfg.MaxLoopDevices
	}
	return image.DefaultMaxLoopDevices
}

// ownedTmpfs makes a tmpfs's root directory the container root's, unless
// its options name an owner.
func (a *assembler) ownedTmpfs(data string) string {
	if a.owner == nil || strings.Contains(","+data, ",uid=") {
		return data
	}
	own := "uid=" + strconv.Itoa(a.owner.hostID) + ",gid=" + strconv.Itoa(a.owner.hostID)
	if data == "" {
		return own
	}
	return data + "," + own
}

// idmappedBind binds a host path with the container's id map, so host
// files show their host owners inside rather than nobody. Read-only is set
// on the mount itself, recursively, before it is attached.
func (a *assembler) idmappedBind(m specs.Mount, readOnly bool) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, m.Source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("failed to bind %s: %w", m.Source, err)
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV, Userns_fd: uint64(a.owner.usernsFD)}
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("cannot bind %s through an idmapped mount: %w", m.Source, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	target, err := mountTarget(a.root(), m.Destination, true)
	if err != nil {
		return err
	}
	if err := a.confined(m.Destination, target); err != nil {
		return err
	}
	if err := a.mountPoint(target, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
		return fmt.Errorf("failed to create mount point %s: %w", m.Destination, err)
	}
	if err := moveMount(fd, target); err != nil {
		return err
	}
	a.boundFromHost(m.Source, target)
	return nil
}

// mountPoint is mountPoint, with what it creates owned by the container's
// root.
func (a *assembler) mountPoint(target string, dir bool) error {
	missing := firstMissing(target)
	if err := mountPoint(target, dir); err != nil {
		return err
	}
	if missing != "" {
		for p := target; ; p = filepath.Dir(p) {
			a.own(p)
			if p == missing || p == "/" {
				break
			}
		}
	}
	return nil
}

// firstMissing returns the topmost component of path that does not exist,
// or "" when path exists.
func firstMissing(path string) string {
	missing := ""
	for p := path; p != "/" && p != "."; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		missing = p
	}
	return missing
}

// own gives a file the assembler made to the container's root.
func (a *assembler) own(p string) {
	if a.owner != nil {
		_ = os.Lchown(p, a.owner.hostID, a.owner.hostID)
	}
}

// inside runs the inside phase below root, in the container's namespaces.
func inside(cfg *config.Config, root string) error {
	_, in := splitMounts(cfg.Spec.Mounts)
	for _, m := range in {
		flags, data, readOnly := parseMountOptions(m.Options)
		target, err := mountTarget(root, m.Destination, false)
		if err != nil {
			return err
		}
		if err := mountPoint(target, true); err != nil {
			return fmt.Errorf("failed to create mount point %s: %w", m.Destination, err)
		}
		fstype, source := m.Type, m.Source
		if fstype == "bind" {
			fstype = ""
		}
		if strings.HasPrefix(source, config.ImageBindSource) {
			// The image is mounted in the outside phase's session,
			// which this phase does not see.
			return fmt.Errorf("image bind on %s: an image bind cannot go below /proc, /dev/pts, /dev/mqueue or /sys/fs/cgroup", m.Destination)
		}
		if err := mount(source, target, fstype, flags, data); err != nil {
			return err
		}
		if readOnly {
			if err := remountReadOnly(target, flags&^(unix.MS_BIND|unix.MS_REC)); err != nil {
				return err
			}
		}
	}
	for _, ro := range cfg.Spec.Linux.ReadonlyPaths {
		p, err := securePath(root, ro)
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err != nil {
			continue // e.g. no /proc/sysrq-trigger on this kernel
		}
		if err := mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := remountReadOnly(p, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
			return err
		}
	}
	for _, masked := range cfg.Spec.Linux.MaskedPaths {
		if err := maskPath(root, masked); err != nil {
			return err
		}
	}
	if cfg.Spec.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Spec.Hostname)); err != nil {
			return fmt.Errorf("failed to set hostname %q: %w", cfg.Spec.Hostname, err)
		}
	}
	return nil
}

// maskPath hides path below root: a file behind the container's
// /dev/null, a directory behind an empty read-only tmpfs. A path the
// kernel does not have is left alone.
func maskPath(root, path string) error {
	p, err := securePath(root, path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil
	}
	if fi.IsDir() {
		return mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=000")
	}
	null, err := securePath(root, "/dev/null")
	if err != nil {
		return err
	}
	return mount(null, p, "", unix.MS_BIND, "")
}

// assembleForUserNS runs the outside phase in the monitor for the container
// stage pid, which waits in its user namespace and still shares the
// monitor's mount namespace. That namespace must be the monitor's own (see
// StartInstance): assembling in the host's would put the container's mounts
// on the host.
func assembleForUserNS(cfg *config.Config, pid int) error {
	// The parent is the instance start that cloned this monitor into
	// its own mount namespace, and waits for it.
	if same, err := sameMountNamespace(os.Getpid(), os.Getppid()); err != nil || same {
		return fmt.Errorf("internal error: a user-namespace container must be assembled in a mount namespace of the monitor's own (shared with the parent: %v, %v)", same, err)
	}
	userns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("failed to open the container's user namespace: %w", err)
	}
	defer unix.Close(userns)
	a := &assembler{cfg: cfg, session: SessionDir(), owner: &mappedOwner{hostID: int(cfg.UserNS.HostID), usernsFD: userns}}
	return a.outside()
}

// releaseAssembly lets go of the monitor's copy of an assembled root once
// the container has its own, so that the image, its loop device and the
// binds are held by the container alone.
func releaseAssembly() {
	_ = unix.Unmount(SessionDir(), unix.MNT_DETACH)
}

// sameMountNamespace reports whether two processes share a mount namespace.
func sameMountNamespace(a, b int) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/mnt", a), &sa); err != nil {
		return false, err
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/mnt", b), &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}

// enterAssembled is the user-namespace stage's side: it copies the
// monitor's mount namespace, which locks every mount the outside phase
// made, runs the inside phase and pivots into the root.
func enterAssembled(cfg *config.Config) error {
	flags := unix.CLONE_NEWNS
	if cfg.Cgroup {
		// The monitor cloned us into the instance cgroup; unsharing now
		// makes it the root of the container's cgroup namespace.
		flags |= unix.CLONE_NEWCGROUP
	}
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("failed to create the container's mount namespace: %w", err)
	}
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	root := filepath.Join(SessionDir(), "root")
	if err := inside(cfg, root); err != nil {
		return err
	}
	// pivot_root refuses a locked mount as the new root: a bind of it onto
	// itself is this namespace's own, and keeps the locks below it.
	if err := mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return pivot(root)
}

// devicePolicy is the container's device policy: the spec's rules, and an
// allow rule for every character device the spec binds into the container
// (the launcher chose those, the InfiniBand nodes say, and the policy
// must not take them back). None when the spec has no rules.
func devicePolicy(cfg *config.Config) []specs.LinuxDeviceCgroup {
	if cfg.Spec.Linux.Resources == nil || len(cfg.Spec.Linux.Resources.Devices) == 0 {
		return nil
	}
	rules := slices.Clone(cfg.Spec.Linux.Resources.Devices)
	for _, m := range cfg.Spec.Mounts {
		if m.Type != "bind" || !strings.HasPrefix(m.Source, "/dev/") {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(m.Source, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
			continue
		}
		major, minor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rw"})
	}
	return rules
}
