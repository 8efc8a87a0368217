// Package config is the contract between the launcher, which decides, and
// the engine, which executes: a runtime-spec Spec for everything the OCI
// model can say (process, namespaces, mounts, capabilities, hostname) plus the
// few things it cannot (the image to assemble, instance bookkeeping, boot
// readiness, CNI networks, the host-network safeguards). A Config is plain
// data: it is built without side effects and travels as JSON from the CLI to
// the monitor and to the container's init stage.
package config

import (
	"encoding/json"
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RootfsMode says how the image becomes the container's root filesystem.
type RootfsMode string

const (
	// RootfsReadOnly binds the image read-only (the default for exec/run/shell).
	RootfsReadOnly RootfsMode = "readonly"
	// RootfsWritable binds the image read-write (--writable).
	RootfsWritable RootfsMode = "writable"
	// RootfsTmpfsOverlay stacks an overlay with a tmpfs upper layer on the
	// image (--writable-tmpfs, and the default for booted instances).
	RootfsTmpfsOverlay RootfsMode = "tmpfs-overlay"
)

// Overlay is the --overlay layers of a container.
type Overlay struct {
	Lower []string `json:"lower,omitempty"`
	Upper string   `json:"upper,omitempty"`
	// Images are the layers above that are overlay image files (ext3),
	// mounted first; their "upper" (and "work") directories are the
	// layers.
	Images []string `json:"images,omitempty"`
}

// SessionSource prefixes a mount source that names a file the engine writes
// into the container's session directory before mounting it (see File).
const SessionSource = "session:"

// RunDirSource prefixes a mount source inside the instance's runtime
// directory on the host (the console, /run/host with the notify socket),
// which only the monitor knows.
const RunDirSource = "rundir:"

// ImageBindSource prefixes the source of a spec mount that binds a
// directory from inside an image file: ImageBindSource+"N" is
// ImageBinds[N], which the engine mounts first.
const ImageBindSource = "imagebind:"

// ImageBind is one image bind (--bind SRC:DST:image-src=PATH,id=N).
type ImageBind struct {
	// Image is the host path of the image file: a SIF, or a squashfs or
	// ext3 file system image.
	Image string `json:"image"`
	// ID is the SIF descriptor of the partition, 0 for the first data
	// partition (or the whole file of a non-SIF image).
	ID uint32 `json:"id,omitempty"`
	// Path is the absolute path inside the image's file system.
	Path string `json:"path"`
	// ReadOnly mounts an ext3 file system read-only (squashfs always is).
	ReadOnly bool `json:"readOnly,omitempty"`
}

// DefaultPath is the PATH inside containers, and of what the runtime runs
// there (joins of booted instances, state queries).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Config is everything the engine needs to run one container.
type Config struct {
	// Spec holds the process, namespaces, mounts (in mount order, relative
	// to the new root), devices, capabilities, hostname and read-only paths.
	Spec specs.Spec `json:"spec"`

	// Image is the absolute path of the image (a sandbox directory or a
	// SIF file).
	Image string `json:"image"`
	// ImageKind is "sandbox" or "sif"; empty means the engine looks.
	ImageKind string `json:"imageKind,omitempty"`
	// MaxLoopDevices is apptainer.conf's "max loop devices", the bound on
	// loop devices for a SIF image; nil means the default (256).
	MaxLoopDevices *int `json:"maxLoopDevices,omitempty"`
	// Rootfs says how the image is mounted as the root filesystem.
	Rootfs RootfsMode `json:"rootfs"`

	// Files are generated files (hostname, hosts, resolv.conf …) written to
	// the session directory and mounted where a Spec mount's source is
	// SessionSource+Name.
	Files []File `json:"files,omitempty"`
	// ImageBinds are the image binds of Spec mounts whose source is
	// ImageBindSource+index.
	ImageBinds []ImageBind `json:"imageBinds,omitempty"`
	// Symlinks are created inside the new root after the mounts (e.g.
	// /dev/fd -> /proc/self/fd on a minimal /dev).
	Symlinks []Symlink `json:"symlinks,omitempty"`

	// Instance is set for instance start/run, nil for exec/run/shell.
	Instance *Instance `json:"instance,omitempty"`
	// Boot is set when /sbin/init is booted (--boot).
	Boot *Boot `json:"boot,omitempty"`
	// Network is set when a new network namespace gets CNI networks.
	Network *Network `json:"network,omitempty"`
	// HostNet is set when a booted instance shares the host's network
	// namespace (--boot-hostnet).
	HostNet *HostNet `json:"hostNet,omitempty"`

	// Overlay are the --overlay directories: read-only ones stacked on the
	// image (first is topmost), and at most one writable one whose
	// "upper" and "work" subdirectories replace the tmpfs upper layer, so
	// that what the container writes stays.
	Overlay *Overlay `json:"overlay,omitempty"`

	// Quiet is -q/-s: the container stage prints no warning of its own
	// to the caller (errors still go to the CLI).
	Quiet bool `json:"quiet,omitempty"`

	// Shim runs the runtime's own minimal init as PID 1 (upstream's
	// appinit): it starts Spec.Process.Args, if any, as its child, reaps
	// orphans and keeps the instance alive until it is signalled.
	Shim bool `json:"shim,omitempty"`
	// UserNS, when set, runs the container in a new user namespace that
	// owns its mount, PID, UTS, IPC and cgroup namespaces: container ids
	// 0..Size-1 are host ids HostID..HostID+Size-1, so root inside is never
	// host root. The monitor allocates HostID; the launcher only asks.
	UserNS *UserNS `json:"userNS,omitempty"`
	// Unprivileged is set when a user other than root runs the container:
	// it runs in a new user namespace that maps only the caller's own uid
	// and gid (Spec.Process.User) to themselves, which the stage creates
	// together with the other namespaces and in which it builds the root
	// itself, with no privilege on the host (upstream's non-setuid mode).
	Unprivileged bool `json:"unprivileged,omitempty"`
	// UIDMap and GIDMap, when set, replace that user namespace's maps
	// (--fakeroot, and root's --userns): the container's root is the
	// caller, and with a subordinate range ids 1.. are the caller's
	// subordinate ids. MapHelpers says newuidmap and newgidmap write
	// them: a caller other than root may not map ids not its own.
	UIDMap     []IDMap `json:"uidMap,omitempty"`
	GIDMap     []IDMap `json:"gidMap,omitempty"`
	MapHelpers bool    `json:"mapHelpers,omitempty"`
	// Cgroup asks for a cgroup per instance, with its own cgroup namespace
	// and cgroup2 mounted at /sys/fs/cgroup.
	Cgroup bool `json:"cgroup,omitempty"`
	// RunDir is the instance's runtime directory on the host (notify
	// socket, console). The engine fills it in; the launcher never does.
	RunDir string `json:"runDir,omitempty"`
	// TraceStart is when the CLI started (Unix nanoseconds). The container
	// stage reports how long it took until it exec'ed the container's
	// process: the runtime's own share of a start, without a tracer.
	TraceStart int64 `json:"traceStart,omitempty"`
	// NoNewPrivileges sets PR_SET_NO_NEW_PRIVS before exec.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
}

// File is a generated file mounted into the container.
type File struct {
	Name    string `json:"name"`
	Content []byte `json:"content"`
	Mode    uint32 `json:"mode"`
}

// Symlink is created at Path (inside the container) pointing at Target.
type Symlink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// UserNS is the id map of a container's user namespace.
type UserNS struct {
	HostID uint32 `json:"hostID"`
	Size   uint32 `json:"size"`
}

// IDMap maps Size ids of a user namespace from ContainerID on to host ids
// from HostID on.
type IDMap struct {
	ContainerID uint32 `json:"containerID"`
	HostID      uint32 `json:"hostID"`
	Size        uint32 `json:"size"`
}

// Instance holds what the monitor needs to keep an instance.
type Instance struct {
	Name string `json:"name"`
	User string `json:"user"`
	UID  int    `json:"uid"`
	// ConfigDir is the per-user configuration directory holding instance
	// files and logs ($HOME/.apptainer).
	ConfigDir string `json:"configDir"`
	// RunDir is the runtime directory of an ordinary user's instance, in
	// the user's configuration directory (launcher.RunParent); empty for
	// root's, which is below the runtime's run directory, where the
	// runtime finds the record it trusts.
	RunDir string `json:"runDir,omitempty"`
	// PidFile, when set, receives the instance PID after a successful start.
	PidFile string `json:"pidFile,omitempty"`
	// DelegatedCgroup puts a booted instance's cgroup2 cgroup below the
	// monitor's own cgroup, which systemd delegated to the unit that runs
	// it (Delegate=yes), instead of apptainer/USER.NAME at the top.
	DelegatedCgroup bool `json:"delegatedCgroup,omitempty"`
	// ShareNS marks the instance shared by the --sharens containers of one
	// parent process; it is stopped when the host process StopWith exits
	// (0: never for that reason).
	ShareNS  bool `json:"shareNS,omitempty"`
	StopWith int  `json:"stopWith,omitempty"`
}

// Boot holds the settings of a booted instance.
type Boot struct {
	// Timeout bounds the wait for systemd's READY=1.
	Timeout time.Duration `json:"timeout"`
	// StopSignal is sent by `instance stop` when no --signal is given.
	StopSignal int `json:"stopSignal"`
	// ContainerUUID is exported to init as container_uuid.
	ContainerUUID string `json:"containerUUID"`
	// ConsoleLogMax is the size in bytes at which the console log is
	// rotated; 0 never rotates.
	ConsoleLogMax int64 `json:"consoleLogMax,omitempty"`
}

// Network describes the CNI networks of a new network namespace.
type Network struct {
	// Networks are CNI network names; "none" means only loopback.
	Networks []string `json:"networks"`
	// Args are the raw --network-args values.
	Args []string `json:"args,omitempty"`
	// ConfDir and PluginDirs locate the CNI configuration and plugins.
	ConfDir    string   `json:"confDir"`
	PluginDirs []string `json:"pluginDirs"`
	CacheDir   string   `json:"cacheDir"`
}

// GuardMode says what the host-network guard does when it sees a change.
type GuardMode string

const (
	GuardOff  GuardMode = "off"
	GuardWarn GuardMode = "warn"
	GuardFail GuardMode = "fail"
)

// ParseGuardMode checks a --boot-hostnet-guard or apptainer.conf value.
func ParseGuardMode(s string) (GuardMode, error) {
	switch m := GuardMode(s); m {
	case GuardOff, GuardWarn, GuardFail:
		return m, nil
	}
	return "", fmt.Errorf("invalid host-network guard mode %q: want off, warn or fail", s)
}

// HostNet holds the safeguards of a booted instance on the host network.
type HostNet struct {
	// MaskedUnits are passed to init as systemd.mask= arguments.
	MaskedUnits []string `json:"maskedUnits"`
	// DroppedCaps were removed from every capability set.
	DroppedCaps []string `json:"droppedCaps"`
	// Guard says what happens when the host's network state changed.
	Guard GuardMode `json:"guard"`
	// ResolvConf is the host file whose private read-only copy is mounted.
	ResolvConf string `json:"resolvConf"`
}

// Encode returns the JSON form passed between processes.
func (c *Config) Encode() ([]byte, error) { return json.Marshal(c) }

// Decode reads a Config written by Encode.
func Decode(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("failed to decode container config: %w", err)
	}
	return &c, nil
}

// HasNamespace reports whether the spec lists a namespace of type t, and
// the path to join ("" for a new one).
func (c *Config) HasNamespace(t specs.LinuxNamespaceType) (bool, string) {
	if c.Spec.Linux == nil {
		return false, ""
	}
	for _, ns := range c.Spec.Linux.Namespaces {
		if ns.Type == t {
			return true, ns.Path
		}
	}
	return false, ""
}
