package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/bind"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultHosts is the /etc/hosts of a container with its own network
// namespace: the host's names mean nothing there.
const defaultHosts = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

// mountPlan collects the spec mounts, generated files, devices and links.
type mountPlan struct {
	Mounts     []specs.Mount
	Files      []config.File
	ImageBinds []config.ImageBind
	Devices    []specs.LinuxDevice
	Symlinks   []config.Symlink
	ReadOnly   []string
}

func (p *mountPlan) add(m specs.Mount) { p.Mounts = append(p.Mounts, m) }

// file adds a generated file mounted read-only at dest.
func (p *mountPlan) file(name, dest string, content []byte, writable bool) {
	p.Files = append(p.Files, config.File{Name: name, Content: content, Mode: 0o644})
	opts := []string{"bind", "ro"}
	if writable {
		opts = []string{"bind"}
	}
	p.add(specs.Mount{Destination: dest, Type: "bind", Source: config.SessionSource + name, Options: opts})
}

// mountInputs are the decisions mounts depend on.
type mountInputs struct {
	Contain   bool
	PIDNS     bool
	IPCNS     bool
	NewNetNS  bool
	Hostname  string
	HomeDest  string
	Boot      bool
	HostNet   bool
	Cgroup    bool
	BindPaths []string
	// NoTmp and NoHome are apptainer.conf's "mount tmp = no" and "mount
	// home = no": /tmp and /var/tmp, and the home directory, are the
	// image's own (an explicit --home still mounts).
	NoTmp, NoHome bool
	// NoProc, NoSys and NoDevPts are "mount proc/sys/devpts = no": no
	// /proc, /sys or private devpts is mounted. Dev is "mount dev": "no"
	// leaves the image's /dev, "minimal" gives every container the
	// minimal /dev of a contained one.
	NoProc, NoSys, NoDevPts bool
	Dev                     string
	// Unprivileged is a caller other than root, whose user namespace
	// maps only its own ids and owns no network namespace: /sys is the
	// host's, bound, and devpts names no group (the tty group is not
	// mapped).
	Unprivileged bool
}

// planMounts lays out the container's filesystem on top of the image, in
// mount order. The kernel filesystems come first, then /dev, the tmpfs
// directories, home, the generated /etc files and finally the user's binds,
// so a user bind can cover anything the runtime mounted.
func planMounts(o Options, h Host, in mountInputs, userBinds []bind.Spec, dns []string, configResolv bool) (mountPlan, error) {
	var p mountPlan
	planKernelFS(&p, in)
	switch {
	case in.Dev == apptainerconf.MountDevNo:
	case in.Contain || in.Dev == apptainerconf.MountDevMinimal:
		planMinimalDev(&p, h, in)
	default:
		p.add(specs.Mount{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind", "nosuid"}})
	}
	if in.Boot {
		p.add(specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755"}})
		p.add(specs.Mount{Destination: "/run/host", Type: "bind", Source: config.RunDirSource + "host", Options: []string{"bind", "ro"}})
	}
	planTmp(&p, o, h, in)
	if err := planScratch(&p, o, h); err != nil {
		return mountPlan{}, err
	}
	if err := planHome(&p, o, h, in); err != nil {
		return mountPlan{}, err
	}
	planEtc(&p, h, in)
	if configResolv || in.HostNet {
		if err := planResolvConf(&p, h, in, dns); err != nil {
			return mountPlan{}, err
		}
	}
	planUserBinds(&p, userBinds)
	if in.Boot {
		// All of /proc/sys is global or belongs to a namespace the instance
		// shares; writes there would outlive the instance.
		p.ReadOnly = []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"}
	}
	return p, nil
}

// planKernelFS mounts /proc (the PID namespace's own, or the host's), /sys
// and, for a booted instance, its cgroup.
func planKernelFS(p *mountPlan, in mountInputs) {
	nosuid := []string{"nosuid", "nodev", "noexec"}
	switch {
	case in.NoProc:
	case in.PIDNS:
		p.add(specs.Mount{Destination: "/proc", Type: "proc", Source: "proc", Options: nosuid})
	default:
		p.add(specs.Mount{Destination: "/proc", Type: "bind", Source: "/proc", Options: []string{"rbind", "nosuid", "nodev"}})
	}
	sysOpts := slices.Clone(nosuid)
	if in.Boot {
		// A read-only /sys keeps udev and sysfs writers inside the container
		// away from host devices. In an ordinary user's container the
		// flag is not locked (the user's own mount namespace made the
		// bind); there the kernel refuses the writes, the host's sysfs
		// being host root's.
		sysOpts = append(sysOpts, "ro")
	}
	switch {
	case in.NoSys:
	case in.Unprivileged:
		// A user namespace may mount only the sysfs of a network
		// namespace it owns.
		opts := []string{"rbind", "nosuid", "nodev", "noexec"}
		if in.Boot {
			opts = append(opts, "ro")
		}
		p.add(specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: opts})
	default:
		p.add(specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts})
	}
	if in.Cgroup {
		p.add(specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2", Options: nosuid})
	}
}

// planMinimalDev is the /dev of a contained container: a tmpfs with the
// pseudo devices, a private devpts, shm, mqueue with an IPC namespace, the
// console of a booted instance and the InfiniBand nodes of one on the
// host network.
func planMinimalDev(p *mountPlan, h Host, in mountInputs) {
	nosuid := []string{"nosuid", "nodev", "noexec"}
	p.add(specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755", "size=4m"}})
	for _, d := range []struct {
		name         string
		major, minor int64
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}} {
		mode := os.FileMode(0o666)
		p.Devices = append(p.Devices, specs.LinuxDevice{Path: "/dev/" + d.name, Type: "c", Major: d.major, Minor: d.minor, FileMode: &mode})
	}
	if !in.NoDevPts {
		opts := []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}
		if in.Unprivileged {
			// The kernel refuses a gid the user namespace does not map.
			opts = opts[:len(opts)-1]
		}
		p.add(specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: opts})
		p.Symlinks = append(p.Symlinks, config.Symlink{Path: "/dev/ptmx", Target: "pts/ptmx"})
	}
	p.add(specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "nodev", "mode=1777"}})
	if in.IPCNS {
		p.add(specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: nosuid})
	}
	p.Symlinks = append(p.Symlinks,
		config.Symlink{Path: "/dev/fd", Target: "/proc/self/fd"},
		config.Symlink{Path: "/dev/stdin", Target: "/proc/self/fd/0"},
		config.Symlink{Path: "/dev/stdout", Target: "/proc/self/fd/1"},
		config.Symlink{Path: "/dev/stderr", Target: "/proc/self/fd/2"},
	)
	if in.Boot {
		// The monitor's pty slave becomes the console, so console-getty
		// has a real terminal and the boot log reaches the .out file.
		p.add(specs.Mount{Destination: "/dev/console", Type: "bind", Source: config.RunDirSource + "console", Options: []string{"bind"}})
	}
	if in.HostNet {
		for _, dev := range h.InfinibandDevices {
			p.add(specs.Mount{Destination: dev, Type: "bind", Source: dev, Options: []string{"bind", "nosuid"}})
		}
	}
}

// planTmp mounts /tmp and /var/tmp: from --workdir or empty when
// contained, the host's otherwise, none with "mount tmp = no".
func planTmp(p *mountPlan, o Options, h Host, in mountInputs) {
	switch {
	case in.NoTmp:
	case o.Workdir != "" && in.Contain:
		p.add(specs.Mount{Destination: "/tmp", Type: "bind", Source: filepath.Join(absPath(o.Workdir, h.Cwd), "tmp"), Options: []string{"bind", "nosuid", "nodev"}})
		p.add(specs.Mount{Destination: "/var/tmp", Type: "bind", Source: filepath.Join(absPath(o.Workdir, h.Cwd), "var_tmp"), Options: []string{"bind", "nosuid", "nodev"}})
	case in.Contain:
		p.add(specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}})
		p.add(specs.Mount{Destination: "/var/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}})
	default:
		p.add(specs.Mount{Destination: "/tmp", Type: "bind", Source: "/tmp", Options: []string{"rbind", "nosuid", "nodev"}})
		p.add(specs.Mount{Destination: "/var/tmp", Type: "bind", Source: "/var/tmp", Options: []string{"rbind", "nosuid", "nodev"}})
	}
}

// planScratch mounts an empty directory at each --scratch path: a tmpfs
// that goes with the container, or with --workdir the directory
// WORKDIR/scratch/PATH, which the CLI makes and which stays.
func planScratch(p *mountPlan, o Options, h Host) error {
	for _, dest := range ScratchPaths(o) {
		if !filepath.IsAbs(dest) {
			return fmt.Errorf("%w: --scratch %q: want an absolute path in the container", ErrInvalid, dest)
		}
		if o.Workdir == "" {
			p.add(specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}})
			continue
		}
		p.add(specs.Mount{Destination: dest, Type: "bind", Source: ScratchSource(absPath(o.Workdir, h.Cwd), dest), Options: []string{"bind", "nosuid", "nodev"}})
	}
	return nil
}

// ScratchPaths are the --scratch paths, comma-separated lists split.
func ScratchPaths(o Options) []string {
	var out []string
	for _, s := range o.Scratch {
		for _, d := range strings.Split(s, ",") {
			if d = strings.TrimSpace(d); d != "" {
				out = append(out, filepath.Clean(d))
			}
		}
	}
	return out
}

// ScratchSource is the directory below workdir that backs the scratch
// path dest.
func ScratchSource(workdir, dest string) string {
	return filepath.Join(workdir, "scratch", strings.TrimPrefix(dest, "/"))
}

// planEtc writes /etc/hostname for a UTS namespace and binds the "bind
// path" entries (a contained container keeps only the host's time zone
// and names; one with its own network gets a generated /etc/hosts).
func planEtc(p *mountPlan, h Host, in mountInputs) {
	if in.Hostname != "" {
		p.file("hostname", "/etc/hostname", []byte(in.Hostname+"\n"), false)
	}
	for _, bp := range in.BindPaths {
		src, dst, _ := strings.Cut(bp, ":")
		if dst == "" {
			dst = src
		}
		switch {
		case dst == "/etc/hosts" && in.NewNetNS:
			p.file("hosts", "/etc/hosts", []byte(defaultHosts), false)
		case in.Contain && dst != "/etc/hosts" && dst != "/etc/localtime":
		case dst == "/etc/localtime" && !h.Localtime:
		default:
			p.add(specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"bind", "ro", "nosuid", "nodev"}})
		}
	}
}

// planUserBinds mounts the --bind and --mount entries, last, so that they
// can cover anything the runtime mounted. As upstream's, they are mounted
// shallowest destination first (a stable sort, so equal depths keep the
// user's order): "-B a:/s/bin -B b:/s" shows a at /s/bin, whichever comes
// first on the command line. An image bind's source is its entry in
// ImageBinds, which the engine mounts.
func planUserBinds(p *mountPlan, userBinds []bind.Spec) {
	userBinds = slices.Clone(userBinds)
	slices.SortStableFunc(userBinds, func(a, b bind.Spec) int { return compareDepth(a.Destination, b.Destination) })
	for _, b := range userBinds {
		opts := []string{"rbind", "nosuid", "nodev"}
		if b.IsImage() {
			// The engine mounts the image's file system read-only unless
			// it is ext3 and the bind is not ro; the bind adds nothing.
			p.ImageBinds = append(p.ImageBinds, config.ImageBind{Image: b.Source, ID: b.ID, Path: b.ImageSrc, ReadOnly: b.ReadOnly})
			src := config.ImageBindSource + strconv.Itoa(len(p.ImageBinds)-1)
			p.add(specs.Mount{Destination: b.Destination, Type: "bind", Source: src, Options: opts})
			continue
		}
		if b.ReadOnly {
			// "idmap": in a user namespace a read-only bind shows host
			// ownership (see the engine's userns_linux.go); ignored
			// otherwise. A read-write bind is never idmapped: through an
			// idmap, what root inside creates would be host root's on
			// disk (a setuid-root file, or one with file capabilities,
			// for any host user to run). Plain, the instance writes as
			// its own host ids, and only where they may.
			opts = append(opts, "ro", "idmap")
		}
		p.add(specs.Mount{Destination: b.Destination, Type: "bind", Source: b.Source, Options: opts})
	}
}

// compareDepth orders container paths by depth (their number of
// components), then by length: upstream's order of user binds.
func compareDepth(a, b string) int {
	if c := strings.Count(a, "/") - strings.Count(b, "/"); c != 0 {
		return c
	}
	return len(a) - len(b)
}

// planHome mounts the home directory: the host's (non-contained), an empty
// one (contained), the --home source, or none ("mount home = no").
func planHome(p *mountPlan, o Options, h Host, in mountInputs) error {
	if o.Home != "" {
		src, _, _ := strings.Cut(o.Home, ":")
		p.add(specs.Mount{Destination: in.HomeDest, Type: "bind", Source: absPath(src, h.Cwd), Options: []string{"rbind", "nosuid", "nodev"}})
		return nil
	}
	switch {
	case in.NoHome:
	case in.Contain && o.Workdir != "":
		p.add(specs.Mount{Destination: in.HomeDest, Type: "bind", Source: filepath.Join(absPath(o.Workdir, h.Cwd), "home"), Options: []string{"bind", "nosuid", "nodev"}})
	case in.Contain:
		p.add(specs.Mount{Destination: in.HomeDest, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=700"}})
	case h.HomeDir != "" && h.HomeDir != "/":
		p.add(specs.Mount{Destination: in.HomeDest, Type: "bind", Source: h.HomeDir, Options: []string{"rbind", "nosuid", "nodev"}})
	}
	return nil
}

// planResolvConf gives the container its name servers. --dns writes a new
// file. A booted instance gets a private copy of the host's file, read-only
// on the host network: a DHCP client inside must not rewrite the host's DNS
// through a bind (upstream binds the host file writable). Everything else
// binds the host's file read-only, like upstream.
func planResolvConf(p *mountPlan, h Host, in mountInputs, dns []string) error {
	if len(dns) > 0 {
		var b strings.Builder
		for _, d := range dns {
			b.WriteString("nameserver " + d + "\n")
		}
		p.file("resolv.conf", "/etc/resolv.conf", []byte(b.String()), !in.HostNet && in.Boot)
		return nil
	}
	if in.Boot {
		p.file("resolv.conf", "/etc/resolv.conf", h.Resolv, !in.HostNet)
		return nil
	}
	if h.ResolvConf == "" {
		return nil
	}
	p.add(specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: h.ResolvConf, Options: []string{"bind", "ro", "nosuid", "nodev"}})
	return nil
}

// absPath resolves a path given on the command line against the caller's
// working directory.
func absPath(p, cwd string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(cwd, p)
}

// homeDest is where the user's home appears inside the container.
func homeDest(o Options, h Host, fakeroot bool) string {
	if o.Home != "" {
		src, dst, ok := strings.Cut(o.Home, ":")
		if ok && dst != "" {
			return filepath.Clean(dst)
		}
		return filepath.Clean(src)
	}
	if h.UID == 0 || fakeroot {
		// --fakeroot's root has root's home: the caller's, bound there.
		return "/root"
	}
	if h.HomeDir == "" {
		return "/"
	}
	return h.HomeDir
}

// checkDNS validates --dns entries.
func checkDNS(list []string, valid func(string) bool) error {
	for _, d := range list {
		if !valid(d) {
			return fmt.Errorf("%w: dns ip %s is not a valid IP address", ErrInvalid, d)
		}
	}
	return nil
}

// SplitOverlay splits an --overlay value into its path and whether it is
// a read-only layer (":ro"); ":rw", the default, may be said aloud.
func SplitOverlay(item string) (path string, ro bool) {
	if p, ok := strings.CutSuffix(item, ":ro"); ok {
		return p, true
	}
	return strings.TrimSuffix(item, ":rw"), false
}

// overlayOf is the --overlay layers: nil without any. checkOverlay has
// checked them.
func overlayOf(o Options) *config.Overlay {
	if len(o.Overlay) == 0 {
		return nil
	}
	ov := &config.Overlay{Images: o.OverlayImages}
	for _, item := range o.Overlay {
		if p, ro := SplitOverlay(item); ro {
			ov.Lower = append(ov.Lower, filepath.Clean(p))
		} else {
			ov.Upper = filepath.Clean(p)
		}
	}
	return ov
}

// hasWritableOverlay reports whether an --overlay layer takes the
// container's writes.
func hasWritableOverlay(o Options) bool {
	return slices.ContainsFunc(o.Overlay, func(item string) bool { _, ro := SplitOverlay(item); return !ro })
}

// checkOverlay refuses --overlay values the engine cannot stack.
func checkOverlay(o Options) error {
	writable := 0
	for _, item := range o.Overlay {
		p, ro := SplitOverlay(item)
		switch {
		case !filepath.IsAbs(p):
			return fmt.Errorf("%w: --overlay %q: want an absolute directory path", ErrInvalid, item)
		case strings.ContainsAny(p, ",:"):
			return fmt.Errorf("%w: --overlay %q: a path with a comma or colon cannot be an overlay layer", ErrInvalid, item)
		case !ro:
			writable++
		}
	}
	if writable > 1 {
		return fmt.Errorf("%w: --overlay: only one writable overlay can be given (add :ro to the others)", ErrInvalid)
	}
	if writable == 1 && o.Writable {
		return fmt.Errorf("%w: --overlay with a writable directory and --writable both make the root writable: use one", ErrInvalid)
	}
	return nil
}
