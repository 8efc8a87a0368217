package engine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"github.com/apptainer/apptainer/internal/pkg/termtext"
	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// A container of an ordinary user (config.Unprivileged) is built by its
// stage alone, in a user namespace the stage is cloned into together with
// its other namespaces. The namespace maps the user's own uid and gid and
// nothing else, so no id of the host but the user's can be acted on, and
// every capability the stage holds is one over namespaces the user owns:
// nothing it does reaches further than what the user could do with
// unshare(1). The differences from root's container follow from what the
// kernel allows there: the image is a sandbox directory or a SIF mounted
// with squashfuse (no loop devices), device nodes are the host's, bound,
// and the root is a kernel overlay or, where the kernel refuses one to a
// user namespace, fuse-overlayfs.

// unprivilegedStageCaps are what the stage keeps through its exec, as
// ambient capabilities in the user namespace (a uid other than 0 would
// lose them all at exec otherwise): CAP_SYS_ADMIN to mount and pivot,
// CAP_SETPCAP to empty the bounding set before the container's process
// runs (applyCredentials), and the file capabilities an overlay mount
// needs, since it works on its layers with its mounter's credentials. In
// a user namespace each applies only to files whose owner it maps: the
// user's own.
var unprivilegedStageCaps = []uintptr{
	unix.CAP_SYS_ADMIN, unix.CAP_SETPCAP, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH,
	unix.CAP_FOWNER, unix.CAP_CHOWN, unix.CAP_FSETID, unix.CAP_MKNOD,
}

// unprivilegedIDMaps are the user namespace's maps: the user's uid and gid,
// each to itself.
func unprivilegedIDMaps(uid, gid uint32) (uids, gids []syscall.SysProcIDMap) {
	return []syscall.SysProcIDMap{{ContainerID: int(uid), HostID: int(uid), Size: 1}},
		[]syscall.SysProcIDMap{{ContainerID: int(gid), HostID: int(gid), Size: 1}}
}

// unprivilegedAttr makes attr clone the stage into its own user namespace
// with the user's ids mapped (or cfg's maps: --fakeroot, root's
// --userns), setgroups denied unless the caller is root (the kernel
// requires it of an unprivileged gid map) and the stage's capabilities
// kept through exec. Maps that newuidmap and newgidmap write
// (cfg.MapHelpers) are not set here: mapIDs writes them once the stage
// runs, and until then its ids are unmapped.
func unprivilegedAttr(attr *syscall.SysProcAttr, cfg *config.Config) {
	u := cfg.Spec.Process.User
	attr.Cloneflags |= unix.CLONE_NEWUSER
	switch {
	case cfg.MapHelpers:
	case len(cfg.UIDMap) > 0:
		attr.UidMappings, attr.GidMappings = sysIDMaps(cfg.UIDMap), sysIDMaps(cfg.GIDMap)
	default:
		attr.UidMappings, attr.GidMappings = unprivilegedIDMaps(u.UID, u.GID)
	}
	attr.GidMappingsEnableSetgroups = os.Getuid() == 0
	attr.AmbientCaps = unprivilegedStageCaps
	if u.UID == 0 {
		// The namespace's root (--fakeroot, root's --userns) gets
		// capabilities of the namespace in its container, which the
		// stage can only hand on if it holds them. Holding them all also
		// keeps the FUSE helpers' Pdeathsig: a program root executes
		// gets the bounding set, and the kernel clears the parent-death
		// signal of an exec that gains capabilities.
		attr.AmbientCaps = allCaps()
	}
}

// allCaps are every capability the kernel knows.
func allCaps() []uintptr {
	last, err := capability.LastCap()
	if err != nil {
		return unprivilegedStageCaps
	}
	caps := make([]uintptr, 0, int(last)+1)
	for c := capability.Cap(0); c <= last; c++ {
		caps = append(caps, uintptr(c))
	}
	return caps
}

// sysIDMaps converts maps to the form SysProcAttr takes.
func sysIDMaps(maps []config.IDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, 0, len(maps))
	for _, m := range maps {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	return out
}

// idMapArgs are newuidmap's or newgidmap's arguments for maps of process
// pid: the pid, then each map as "inside outside count".
func idMapArgs(pid int, maps []config.IDMap) []string {
	args := []string{strconv.Itoa(pid)}
	for _, m := range maps {
		args = append(args, strconv.FormatUint(uint64(m.ContainerID), 10), strconv.FormatUint(uint64(m.HostID), 10), strconv.FormatUint(uint64(m.Size), 10))
	}
	return args
}

// findIDMapHelpers finds newuidmap and newgidmap, which write the maps of
// a --fakeroot user namespace with the subordinate ids /etc/subuid and
// /etc/subgid grant the user: they are setuid root (or hold
// CAP_SETUID/CAP_SETGID), the only way a user maps ids not its own.
func findIDMapHelpers() (uidHelper, gidHelper string, err error) {
	if uidHelper, err = helperProgram("newuidmap"); err == nil {
		gidHelper, err = helperProgram("newgidmap")
	}
	if err != nil {
		return "", "", fmt.Errorf("--fakeroot: %w: mapping the subordinate ids of %s and %s needs newuidmap and newgidmap in %s (Debian package uidmap)", err, "/etc/subuid", "/etc/subgid", helperPath)
	}
	return uidHelper, gidHelper, nil
}

// mapIDs writes the id maps of the stage pid's user namespace with
// newgidmap and newuidmap. The stage waits for its config, sent after
// this, before it does anything that its ids matter to.
func mapIDs(pid int, cfg *config.Config, uidHelper, gidHelper string) error {
	for _, h := range []struct {
		prog string
		maps []config.IDMap
	}{{gidHelper, cfg.GIDMap}, {uidHelper, cfg.UIDMap}} {
		out, err := exec.Command(h.prog, idMapArgs(pid, h.maps)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("--fakeroot: %s %s failed: %v: %s", filepath.Base(h.prog), strings.Join(idMapArgs(pid, h.maps), " "), err, termtext.Line(strings.TrimSpace(string(out))))
		}
	}
	return nil
}

// checkSessionDir says what is wrong when the session directory, which
// only root can create, is missing.
func checkSessionDir() error {
	fi, err := os.Stat(SessionDir())
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("the session directory %s is missing: `make install` creates it (as root); without it containers cannot run without root", SessionDir())
	}
	return nil
}

// setupUnprivileged builds the root file system of an ordinary user's
// container and pivots into it; the stage is in the user namespace and
// owns a copy of the host's mount namespace, whose mounts the kernel has
// locked (their flags cannot be lifted, and what they cover cannot be
// uncovered).
func setupUnprivileged(cfg *config.Config) error {
	// Helpers executed from here on (squashfuse, fuse-overlayfs) get no
	// capability; the stage keeps its own until applyCredentials.
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("failed to clear the ambient capabilities: %w", e)
	}
	if cfg.Cgroup {
		// A booted instance: the monitor cloned the stage into the
		// instance's cgroup, which becomes the root of the container's
		// cgroup namespace, one the user namespace owns and may mount.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("failed to create cgroup namespace: %w", err)
		}
	}
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := checkSessionDir(); err != nil {
		return err
	}
	a := &assembler{cfg: cfg, session: SessionDir(), unprivileged: true}
	if err := a.outside(); err != nil {
		return err
	}
	if err := inside(cfg, a.root()); err != nil {
		return err
	}
	return pivot(a.root())
}

// unprivilegedRootfs is mountRootfs for an ordinary user: the sandbox
// directory, or the SIF's squashfs through squashfuse, as the overlay's
// lower layer; --writable binds the sandbox itself, where the user's own
// permissions decide what may be written.
func (a *assembler) unprivilegedRootfs(kind image.Kind) error {
	cfg := a.cfg
	if kind != image.KindSIF {
		if cfg.Rootfs == config.RootfsWritable {
			return mount(cfg.Image, a.root(), "", unix.MS_BIND|unix.MS_REC, "")
		}
		return a.overlayRoot(cfg.Image)
	}
	if cfg.Rootfs == config.RootfsWritable {
		return fmt.Errorf("cannot use --writable with SIF image %s: its file system is read-only (use --writable-tmpfs)", cfg.Image)
	}
	lower := filepath.Join(a.session, "image")
	if err := os.Mkdir(lower, 0o755); err != nil {
		return err
	}
	if err := squashfuseSIF(cfg.Image, lower); err != nil {
		return err
	}
	return a.overlayRoot(lower)
}

// helperPath is where the stage, whose environment is its own, looks for
// the FUSE programs: the system's directories, as a distribution installs
// them.
const helperPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// helperProgram finds program name in helperPath.
func helperProgram(name string) (string, error) {
	for _, dir := range filepath.SplitList(helperPath) {
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
}

// fuseHelperError is what a missing FUSE helper program is reported as.
func fuseHelperError(prog, pkg, what string) error {
	return fmt.Errorf("%s not found in %s: running %s without root needs it (Debian package %s)", prog, helperPath, what, pkg)
}

// squashfuseSIF mounts the squashfs partition of SIF image at dir with
// squashfuse, which serves it as the user, without capabilities.
func squashfuseSIF(img, dir string) error {
	s, err := image.ReadSIF(img)
	if err != nil {
		return err
	}
	if s.Primary.FSType != "squashfs" {
		return fmt.Errorf("SIF image %s: its %s partition needs root (only squashfs can be mounted without root)", img, s.Primary.FSType)
	}
	prog, err := helperProgram("squashfuse")
	if err != nil {
		return fuseHelperError("squashfuse", "squashfuse", "a SIF image")
	}
	return fuseMount(dir, "squashfuse", prog, "-o", "offset="+strconv.FormatInt(s.Primary.Offset, 10), img)
}

// fuseMount mounts a FUSE file system of type fstype at dir, served by
// prog with args: the stage makes the mount itself, on a /dev/fuse it
// opened, and hands the device to prog as /dev/fd/3, libfuse's way of
// serving a mount made by someone else (prog needs no privilege). prog
// runs in the foreground as the stage's child, in a mount namespace of its
// own, and dies with it (Pdeathsig): the container's process, which the
// stage becomes, or its PID namespace ending takes it, and with it the
// mount.
func fuseMount(dir, fstype, prog string, args ...string) error {
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cannot use FUSE to mount %s without root: %w (/dev/fuse must be readable and writable by users, as Debian's udev makes it)", fstype, err)
	}
	defer dev.Close()
	data := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d", dev.Fd(), os.Getuid(), os.Getgid())
	if err := mount(fstype, dir, "fuse."+fstype, unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		return fmt.Errorf("FUSE mount of %s: %w", fstype, err)
	}
	cmd := exec.Command(prog, append(append([]string{"-f"}, args...), "/dev/fd/3")...)
	cmd.ExtraFiles = []*os.File{dev}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// In a mount namespace of its own (a copy of the stage's): the
	// stage's pivot_root into the container's root would otherwise move
	// the server's root too, onto the very file system it serves, and
	// fuse-overlayfs, which resolves /proc/self/fd paths, would wait on
	// itself for ever. The server needs none of the stage's later mounts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Cloneflags: syscall.CLONE_NEWNS}
	if err := cmd.Start(); err != nil {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		return fmt.Errorf("failed to start %s: %w", prog, err)
	}
	// Only the server may hold the device: if it dies, the connection
	// ends and the stat below fails instead of waiting for it forever.
	dev.Close()
	// The first request waits until the server has answered FUSE_INIT.
	if _, err := os.Stat(dir); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		return fmt.Errorf("%s could not serve %s (%v); its messages are above", filepath.Base(prog), dir, err)
	}
	return nil
}

// unprivilegedOverlay mounts the root overlay of an ordinary user's
// container: the kernel's overlayfs, which a user namespace may mount
// since Linux 5.11, else fuse-overlayfs. data are the kernel overlay's
// options.
func unprivilegedOverlay(target, data string) error {
	err := mount("overlay", target, "overlay", 0, data)
	if err == nil || !(errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENODEV)) {
		return err
	}
	prog, lerr := helperProgram("fuse-overlayfs")
	if lerr != nil {
		return fmt.Errorf("the kernel refuses an overlay to a user namespace (%v; Linux 5.11 or later allows it), and fuse-overlayfs is not installed (Debian package fuse-overlayfs): an image cannot be run without root here", err)
	}
	return fuseMount(target, "fuse-overlayfs", prog, "-o", overlayFuseOptions(data))
}

// overlayFuseOptions are fuse-overlayfs's options for the kernel overlay
// options data: the same layers; a copy-up keeps the owner of a file where
// the user namespace maps it and leaves it the user's where it does not.
func overlayFuseOptions(data string) string {
	return data + ",ignore_chown_errors"
}

// mountParents are the directories that hold the container's mount
// points, symlinks and device nodes, each once, shallowest first.
func mountParents(cfg *config.Config) []string {
	var dests []string
	for _, m := range cfg.Spec.Mounts {
		dests = append(dests, m.Destination)
	}
	for _, d := range cfg.Spec.Linux.Devices {
		dests = append(dests, d.Path)
	}
	for _, l := range cfg.Symlinks {
		dests = append(dests, l.Path)
	}
	seen := map[string]bool{}
	var dirs []string
	for _, d := range dests {
		dir := filepath.Dir(filepath.Clean("/" + d))
		if dir != "/" && !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	slices.SortStableFunc(dirs, func(a, b string) int { return strings.Count(a, "/") - strings.Count(b, "/") })
	return dirs
}

// shadowParents copies into the overlay's upper layer, before it is
// mounted, the image's directories that will hold mount points, with their
// modes. An ordinary user may not create anything in a directory of the
// image that root owns (the user namespace does not map root, so no
// capability applies to it, and an overlay checks the merged directory's
// owner); a directory of the upper layer is the user's, and a merged
// directory takes its owner from it. Each path is resolved inside the
// image, so a symbolic link in a hostile image leads nowhere else, and
// only real directories of the image are copied: a link stays a link.
func shadowParents(lower, upper string, dirs []string) error {
	for _, dir := range dirs {
		resolved, err := securePath(lower, dir)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(lower, resolved)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			continue
		}
		src, dst := lower, upper
		for _, part := range strings.Split(rel, string(filepath.Separator)) {
			src, dst = filepath.Join(src, part), filepath.Join(dst, part)
			var st unix.Stat_t
			if unix.Lstat(src, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				break
			}
			if err := os.Mkdir(dst, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("failed to prepare the mount point directory %s: %w", dir, err)
			}
			if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
				return fmt.Errorf("failed to prepare the mount point directory %s: %w", dir, err)
			}
		}
	}
	return nil
}

// bindDestinations are the destinations of cfg's bind mounts, whose
// symbolic link in the image the bind replaces (mountTarget).
func bindDestinations(cfg *config.Config) []string {
	var dests []string
	for _, m := range cfg.Spec.Mounts {
		if flags, _, _ := parseMountOptions(m.Options); flags&unix.MS_BIND != 0 {
			dests = append(dests, m.Destination)
		}
	}
	return dests
}

// shadowLinks hides, with a whiteout in the overlay's upper layer made
// before it is mounted, each symbolic link of the image that a bind
// replaces (Debian's /etc/localtime and /etc/resolv.conf): the mount
// point is then made where the link was (mountTarget finds nothing
// there). Removing the link through the mounted overlay would fail for an
// ordinary user: the link is root's, an owner the user namespace does
// not map, and the overlay refuses to act on it (EOVERFLOW). A whiteout
// needs no privilege. Paths are resolved inside the image, as
// shadowParents resolves them, and only a link is hidden.
func shadowLinks(lower, upper string, dests []string) error {
	for _, dest := range dests {
		dir, base := filepath.Split(filepath.Clean("/" + dest))
		parent, err := securePath(lower, dir)
		if err != nil || base == "" {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(parent, base), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			continue
		}
		rel, err := filepath.Rel(lower, parent)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		shadow := filepath.Join(upper, rel, base)
		if err := unix.Mknod(shadow, unix.S_IFCHR, 0); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("failed to prepare the mount point %s in place of the image's symbolic link: %w", dest, err)
		}
	}
	return nil
}

// confined refuses a mount point that does not exist yet and that the
// image's symbolic links lead onto another file system than the root's:
// for root, one the runtime bound from the host (the host's /tmp, the home
// directory, a --bind), where making it would leave a file or directory on
// the host, in a place the image chose; for an ordinary user's container,
// any other file system. Where dest resolves to itself, or stays on the
// root, nothing is refused: Debian's /etc/resolv.conf, a link into the
// runtime's own /run, keeps working.
func (a *assembler) confined(dest, target string) error {
	missing := firstMissing(target)
	if missing == "" || target == filepath.Join(a.root(), filepath.Clean("/"+dest)) {
		return nil
	}
	parent, err := mountID(filepath.Dir(missing))
	root, rerr := mountID(a.root())
	if err != nil || rerr != nil {
		return fmt.Errorf("mount point %s: cannot tell where the image's symbolic links lead it: refused", dest)
	}
	if parent == root || (!a.unprivileged && !a.hostMounts[parent]) {
		return nil
	}
	return fmt.Errorf("mount point %s: the image's symbolic links lead it out of the image, to %s: refused", dest, termtext.Line(strings.TrimPrefix(target, a.root())))
}
