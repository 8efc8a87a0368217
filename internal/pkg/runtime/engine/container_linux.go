package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/buildcfg"
	"github.com/apptainer/apptainer/internal/pkg/capabilities"
	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	// Every stage changes namespaces, mounts and credentials of the thread
	// that finally calls execve; keep main on one OS thread from the start.
	if os.Getenv(StageEnv) != "" {
		runtime.LockOSThread()
	}
}

// SessionDir is the mount point of each container's private session tmpfs
// (generated files, overlay layers, the new root). It lives in the
// container's own mount namespace, so it vanishes with it.
func SessionDir() string { return filepath.Join(buildcfg.LocalStateDir, "apptainer", "mnt", "session") }

// containerMain is PID 1 of a new container until it execs.
func containerMain() error {
	cfgFile := os.NewFile(configFD, "config")
	b, err := io.ReadAll(cfgFile)
	cfgFile.Close()
	if err != nil {
		return fmt.Errorf("failed to read container config: %w", err)
	}
	cfg, err := config.Decode(b)
	if err != nil {
		return err
	}
	sync := fdWriter(syncFD)
	unix.CloseOnExec(syncFD)
	if err := receiveGo(cfg); err != nil {
		return err
	}
	if err := setupContainer(cfg); err != nil {
		_ = writeMessage(sync, stageMessage{Error: err.Error()})
		return err
	}
	err = execProcess(cfg)
	_ = writeMessage(sync, stageMessage{Error: err.Error()})
	return err
}

// received holds the mounts the privileged side prepared for a container
// in a user namespace.
var received = userNSMounts{Image: -1, Sysfs: -1}

// receiveGo waits for the runtime's "go" and takes the prepared mounts
// that come with it.
func receiveGo(cfg *config.Config) error {
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4*250))
	n, oobn, _, _, err := unix.Recvmsg(syncFD, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || strings.TrimSpace(string(buf[:n])) != "go" {
		return fmt.Errorf("container setup aborted by the runtime")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return err
		}
		if len(fds) >= 2 {
			received = userNSMounts{Image: fds[0], Sysfs: fds[1], Binds: fds[2:]}
		}
	}
	if cfg.UserNS != nil && received.Image < 0 {
		return fmt.Errorf("container setup: the prepared mounts did not arrive")
	}
	return nil
}

// setupContainer builds the root filesystem and pivots into it.
func setupContainer(cfg *config.Config) error {
	if cfg.Cgroup {
		// The monitor cloned us into the instance cgroup; unsharing now
		// makes it the root of the container's cgroup namespace.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("failed to create cgroup namespace: %w", err)
		}
	}
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	session := SessionDir()
	if err := os.MkdirAll(session, 0o755); err != nil {
		return fmt.Errorf("failed to create session directory (in a user namespace, every directory above it must be searchable by others): %w", err)
	}
	if err := mount("tmpfs", session, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
		return err
	}
	root, err := mountRootfs(cfg, session)
	if err != nil {
		return err
	}
	if err := writeFiles(cfg, session); err != nil {
		return err
	}
	for _, m := range cfg.Spec.Mounts {
		if err := mountSpec(cfg, root, session, m); err != nil {
			return err
		}
	}
	if err := makeDevices(root, cfg.Spec.Linux.Devices, cfg.UserNS != nil); err != nil {
		return err
	}
	for _, l := range cfg.Symlinks {
		p, err := securePath(root, l.Path)
		if err != nil {
			return err
		}
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.Symlink(l.Target, p); err != nil {
			return fmt.Errorf("failed to create symlink %s: %w", l.Path, err)
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
	if err := finishRootfs(cfg, root); err != nil {
		return err
	}
	if cfg.Spec.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Spec.Hostname)); err != nil {
			return fmt.Errorf("failed to set hostname %q: %w", cfg.Spec.Hostname, err)
		}
	}
	return pivot(root)
}

// mountRootfs assembles the image as the new root in the session directory.
// Only --writable binds the image itself. Everything else gets an overlay
// with a tmpfs upper layer, so mount points missing from the image can be
// created without touching it; a read-only root is made read-only once the
// mounts are done (see finishRootfs).
func mountRootfs(cfg *config.Config, session string) (string, error) {
	root := filepath.Join(session, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	lower := cfg.Image
	if received.Image >= 0 {
		// In a user namespace: the image comes idmapped from the
		// privileged side, SIF or not.
		lower = filepath.Join(session, "image")
		if err := os.Mkdir(lower, 0o755); err != nil {
			return "", err
		}
		if err := moveMount(received.Image, lower); err != nil {
			return "", err
		}
		return overlayRoot(session, root, lower)
	}
	kind := image.Kind(cfg.ImageKind)
	if kind == "" {
		var err error
		if kind, err = image.Detect(cfg.Image); err != nil {
			return "", err
		}
	}
	if kind == image.KindSIF {
		if cfg.Rootfs == config.RootfsWritable {
			return "", fmt.Errorf("cannot use --writable with SIF image %s: its file system is read-only (use --writable-tmpfs)", cfg.Image)
		}
		// The squashfs is the overlay's lower layer; its auto-clearing
		// loop device goes away with this mount namespace.
		lower = filepath.Join(session, "image")
		maxLoop := image.DefaultMaxLoopDevices
		if cfg.MaxLoopDevices != nil {
			maxLoop = *cfg.MaxLoopDevices
		}
		if err := image.MountSIF(cfg.Image, lower, maxLoop); err != nil {
			return "", err
		}
	}
	if cfg.Rootfs == config.RootfsWritable {
		if err := mount(cfg.Image, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return "", err
		}
		return root, nil
	}
	return overlayRoot(session, root, lower)
}

// overlayRoot mounts the root as an overlay of lower with a tmpfs upper
// layer (the session directory is a tmpfs).
func overlayRoot(session, root, lower string) (string, error) {
	upper, work := filepath.Join(session, "upper"), filepath.Join(session, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := mount("overlay", root, "overlay", 0, data); err != nil {
		return "", err
	}
	return root, nil
}

// finishRootfs makes a read-only root read-only, after its mount points
// were made.
func finishRootfs(cfg *config.Config, root string) error {
	if cfg.Rootfs != config.RootfsReadOnly {
		return nil
	}
	return mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

// writeFiles writes the generated files into the session directory.
func writeFiles(cfg *config.Config, session string) error {
	dir := filepath.Join(session, "files")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for _, f := range cfg.Files {
		if strings.Contains(f.Name, "/") {
			return fmt.Errorf("invalid generated file name %q", f.Name)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Content, os.FileMode(f.Mode)); err != nil {
			return fmt.Errorf("failed to write %s: %w", f.Name, err)
		}
	}
	return nil
}

// mountSpec performs one spec mount inside root.
func mountSpec(cfg *config.Config, root, session string, m specs.Mount) error {
	flags, data, readOnly := parseMountOptions(m.Options)
	if isIDMapBind(m.Options) && received.Image >= 0 {
		return mountIDMapBind(root, m, readOnly)
	}
	source := m.Source
	switch {
	case strings.HasPrefix(source, config.SessionSource):
		source = filepath.Join(session, "files", strings.TrimPrefix(source, config.SessionSource))
	case strings.HasPrefix(source, launcher.RunDirSource):
		if cfg.RunDir == "" {
			return fmt.Errorf("mount of %s needs the instance runtime directory", m.Destination)
		}
		source = filepath.Join(cfg.RunDir, strings.TrimPrefix(source, launcher.RunDirSource))
	}
	isDir := true
	if flags&unix.MS_BIND != 0 {
		fi, err := os.Stat(source)
		if err != nil {
			return fmt.Errorf("failed to bind %s: %w", m.Destination, err)
		}
		isDir = fi.IsDir()
	}
	target, err := mountTarget(root, m.Destination, flags&unix.MS_BIND != 0 && cfg.Rootfs != config.RootfsWritable)
	if err != nil {
		return err
	}
	if err := mountPoint(target, isDir); err != nil {
		return fmt.Errorf("failed to create mount point %s: %w", m.Destination, err)
	}
	if m.Type == "sysfs" && received.Sysfs >= 0 {
		// Mounted read-only by the privileged side (see userns_linux.go).
		return moveMount(received.Sysfs, target)
	}
	fstype := m.Type
	if fstype == "bind" {
		fstype = ""
	}
	if err := mount(source, target, fstype, flags, data); err != nil {
		return err
	}
	if readOnly {
		if flags&unix.MS_BIND != 0 {
			return remountReadOnly(target, flags&^(unix.MS_BIND|unix.MS_REC))
		}
		return mount("", target, "", unix.MS_REMOUNT|unix.MS_RDONLY|flags, data)
	}
	return nil
}

// mountIDMapBind attaches the next idmapped bind prepared by the privileged
// side; in a user namespace the source may not even be reachable by path.
func mountIDMapBind(root string, m specs.Mount, readOnly bool) error {
	if len(received.Binds) == 0 {
		return fmt.Errorf("the idmapped bind of %s did not arrive", m.Source)
	}
	fd := received.Binds[0]
	received.Binds = received.Binds[1:]
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	target, err := mountTarget(root, m.Destination, true)
	if err != nil {
		return err
	}
	if err := mountPoint(target, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
		return fmt.Errorf("failed to create mount point %s: %w", m.Destination, err)
	}
	if err := moveMount(fd, target); err != nil {
		return err
	}
	if readOnly {
		return remountReadOnly(target, unix.MS_NOSUID|unix.MS_NODEV)
	}
	return nil
}

// mountTarget resolves a mount destination inside root. When the last
// component is a symlink and the root is a throwaway overlay, the link
// itself is replaced by the mount point: Debian's /etc/resolv.conf is a link
// into /run, and binding through it would put the file somewhere else.
// Otherwise the link is followed, inside root.
func mountTarget(root, dest string, replaceLink bool) (string, error) {
	dir, base := filepath.Split(filepath.Clean("/" + dest))
	parent, err := securePath(root, dir)
	if err != nil {
		return "", err
	}
	target := filepath.Join(parent, base)
	fi, err := os.Lstat(target)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return target, nil
	}
	if replaceLink {
		if err := os.Remove(target); err != nil {
			return "", fmt.Errorf("failed to replace symlink %s: %w", dest, err)
		}
		return target, nil
	}
	return securePath(root, dest)
}

// makeDevices creates device nodes in the container's minimal /dev. A user
// namespace may not create device nodes: there the host's are bound.
func makeDevices(root string, devices []specs.LinuxDevice, bindHost bool) error {
	for _, d := range devices {
		p, err := securePath(root, d.Path)
		if err != nil {
			return err
		}
		if bindHost {
			if err := mountPoint(p, false); err != nil {
				return err
			}
			if err := mount(d.Path, p, "", unix.MS_BIND, ""); err != nil {
				return err
			}
			continue
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode)
		}
		if d.Type == "c" {
			mode |= unix.S_IFCHR
		} else {
			mode |= unix.S_IFBLK
		}
		old := unix.Umask(0)
		err = unix.Mknod(p, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
		unix.Umask(old)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("failed to create device %s: %w", d.Path, err)
		}
	}
	return nil
}

// pivot makes root the new "/" and detaches the old one, so no host path
// stays reachable (a chroot would leave them there).
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("failed to pivot_root into %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("failed to detach the old root: %w", err)
	}
	return unix.Chdir("/")
}

// execProcess applies credentials and execs the container's process.
func execProcess(cfg *config.Config) error {
	p := cfg.Spec.Process
	if err := os.Chdir(p.Cwd); err != nil {
		fmt.Fprintf(os.Stderr, "WARNING: could not chdir to %s: %v, using /\n", p.Cwd, err)
		_ = os.Chdir("/")
	}
	if cfg.Shim {
		return runShim(cfg)
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return err
	}
	if err := applyCredentials(cfg); err != nil {
		return err
	}
	announceExec()
	err = unix.Exec(path, p.Args, p.Env)
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("exec %s failed: a shared library is likely missing in the image", path)
	}
	return fmt.Errorf("exec %s failed: %w", path, err)
}

// announceExec tells the runtime that this stage is about to execute the
// container's process: the end-of-file that follows is then a successful
// exec, not a stage that died during setup.
func announceExec() {
	// Written to the descriptor itself: an *os.File for it would close it
	// when collected.
	_ = writeMessage(fdWriter(syncFD), stageMessage{Exec: true, ExecAt: time.Now().UnixNano(), StageAt: processStart.UnixNano()})
}

// fdWriter writes to a descriptor it does not own.
type fdWriter int

func (fd fdWriter) Write(b []byte) (int, error) { return unix.Write(int(fd), b) }

// applyCredentials sets capabilities and no_new_privs, last before exec.
func applyCredentials(cfg *config.Config) error {
	var caps []string
	if c := cfg.Spec.Process.Capabilities; c != nil {
		caps = c.Bounding
	}
	if err := capabilities.Apply(caps); err != nil {
		return fmt.Errorf("failed to set capabilities: %w", err)
	}
	if cfg.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("failed to set no_new_privs: %w", err)
		}
	}
	return nil
}

// lookPath finds a command in the container's PATH.
func lookPath(cmd string, env []string) (string, error) {
	if strings.Contains(cmd, "/") {
		return cmd, nil
	}
	for _, dir := range filepath.SplitList(searchPath(env)) {
		p := filepath.Join(dir, cmd)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", cmd)
}
