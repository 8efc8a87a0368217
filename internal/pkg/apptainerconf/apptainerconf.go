// Package apptainerconf reads apptainer.conf, the administrator's global
// configuration file. Parse turns the file's "directive = value" lines into a
// typed File, Load adds the ownership check a setuid installation needs, and
// WriteTo renders a File back into lines Parse accepts.
//
// The directive names, value spellings and defaults follow upstream Apptainer
// so that an existing apptainer.conf keeps working; the boot directives
// (allow boot hostnet, boot hostnet mask units, boot hostnet guard,
// boot timeout, boot hostnet userns) are this project's own.
package apptainerconf

import "github.com/apptainer/apptainer/internal/pkg/runtime/config"

// Values accepted by "mount dev".
const (
	MountDevYes     = "yes"
	MountDevNo      = "no"
	MountDevMinimal = "minimal"
)

// Values accepted by "enable overlay".
const (
	OverlayYes    = "yes"
	OverlayNo     = "no"
	OverlayTry    = "try"
	OverlayDriver = "driver"
)

// Values accepted by "enable underlay".
const (
	UnderlayYes       = "yes"
	UnderlayNo        = "no"
	UnderlayPreferred = "preferred"
)

// Values accepted by "allow setuid-mount squashfs".
const (
	SetuidMountYes       = "yes"
	SetuidMountNo        = "no"
	SetuidMountIfLimited = "iflimited"
)

// Values accepted by "memory fs type".
const (
	MemoryFSTmpfs = "tmpfs"
	MemoryFSRamfs = "ramfs"
)

// Values accepted by "root default capabilities".
const (
	CapsFull = "full"
	CapsFile = "file"
	CapsNo   = "no"
)

// Values accepted by "boot hostnet guard" are those of config.GuardMode:
// what happens when the guard sees the host's network state change while a
// --boot-hostnet instance starts.
var guardModes = []string{string(config.GuardOff), string(config.GuardWarn), string(config.GuardFail)}

// Values accepted by "boot hostnet userns": whether --boot-hostnet instances
// run in a user namespace, and whether a user may turn it off per run.
const (
	UsernsYes      = "yes"
	UsernsOptional = "optional"
	UsernsNo       = "no"
)

// File holds every apptainer.conf directive, one typed field each. Enumerated
// directives are plain strings (so callers can pass them on unchanged) whose
// allowed values are the constants above; Parse never stores anything else.
type File struct {
	// Privileges and namespaces.
	AllowSetuid             bool
	RootDefaultCapabilities string
	AllowIpcNs              bool
	AllowPidNs              bool
	AllowUserNs             bool
	AllowUtsNs              bool

	// Loop devices.
	MaxLoopDevices    int
	SharedLoopDevices bool

	// Files staged into the container.
	ConfigPasswd     bool
	ConfigGroup      bool
	ConfigResolvConf bool

	// Mounts.
	MountProc         bool
	MountSys          bool
	MountDev          string
	MountDevPts       bool
	MountHome         bool
	MountTmp          bool
	MountHostfs       bool
	BindPath          []string
	UserBindControl   bool
	EnableFusemount   bool
	EnableOverlay     string
	EnableUnderlay    string
	TmpSandbox        bool
	MountSlave        bool
	SessiondirMaxSize int
	MemoryFSType      string

	// Which images unprivileged users may run (setuid mode only).
	LimitContainerOwners      []string
	LimitContainerGroups      []string
	LimitContainerPaths       []string
	AllowContainerSIF         bool
	AllowContainerEncrypted   bool
	AllowContainerSquashfs    bool
	AllowContainerExtfs       bool
	AllowContainerDir         bool
	AllowSetuidMountEncrypted bool
	AllowSetuidMountSquashfs  string
	AllowSetuidMountExtfs     bool

	// Networking.
	AllowNetUsers    []string
	AllowNetGroups   []string
	AllowNetNetworks []string
	AllowNetnsPaths  []string
	CNIConfPath      string
	CNIPluginPath    string

	// Booted instances (this project's directives).
	AllowBootHostnet bool
	// AllowBootHostnetUsers and AllowBootHostnetGroups are the ordinary
	// users (names or uids) and groups who may start --boot-hostnet
	// instances of their own (rootless, with --fakeroot); empty lists
	// leave the feature to root.
	AllowBootHostnetUsers  []string
	AllowBootHostnetGroups []string
	BootHostnetMaskUnits   []string
	BootHostnetGuard       string
	BootTimeout            int
	BootHostnetUserns      string
	// BootConsoleLogSize is the size in MiB at which a booted instance's
	// console log (NAME.out) is rotated to NAME.out.1; 0 never rotates.
	BootConsoleLogSize int

	// Helper programs, GPUs, cgroups, image building and downloads.
	BinaryPath            string
	AlwaysUseNv           bool
	UseNvidiaContainerCli bool
	AlwaysUseRocm         bool
	SystemdCgroups        bool
	MksquashfsProcs       int
	MksquashfsMem         string
	ImageDriver           string
	DownloadConcurrency   int
	DownloadPartSize      int
	DownloadBufferSize    int
	AllowMonitoring       bool
	ApptheusSocketPath    string
}

// Default returns the configuration used when a directive is absent. The
// shipped etc/apptainer.conf spells out exactly these values; a test keeps
// the two in step.
func Default() *File {
	return &File{
		AllowSetuid:             true,
		RootDefaultCapabilities: CapsFull,
		AllowIpcNs:              true,
		AllowPidNs:              true,
		AllowUserNs:             true,
		AllowUtsNs:              true,

		MaxLoopDevices:    256,
		SharedLoopDevices: false,

		ConfigPasswd:     true,
		ConfigGroup:      true,
		ConfigResolvConf: true,

		MountProc:         true,
		MountSys:          true,
		MountDev:          MountDevYes,
		MountDevPts:       true,
		MountHome:         true,
		MountTmp:          true,
		MountHostfs:       false,
		BindPath:          []string{"/etc/localtime", "/etc/hosts"},
		UserBindControl:   true,
		EnableFusemount:   true,
		EnableOverlay:     OverlayYes,
		EnableUnderlay:    UnderlayYes,
		TmpSandbox:        true,
		MountSlave:        true,
		SessiondirMaxSize: 64,
		MemoryFSType:      MemoryFSTmpfs,

		AllowContainerSIF:         true,
		AllowContainerEncrypted:   true,
		AllowContainerSquashfs:    true,
		AllowContainerExtfs:       true,
		AllowContainerDir:         true,
		AllowSetuidMountEncrypted: true,
		AllowSetuidMountSquashfs:  SetuidMountIfLimited,
		AllowSetuidMountExtfs:     false,

		AllowBootHostnet:   true,
		BootHostnetGuard:   string(config.GuardWarn),
		BootTimeout:        90,
		BootHostnetUserns:  UsernsYes,
		BootConsoleLogSize: 16,

		BinaryPath:          "$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		SystemdCgroups:      true,
		DownloadConcurrency: 3,
		DownloadPartSize:    5242880,
		DownloadBufferSize:  32768,
		ApptheusSocketPath:  "/run/apptheus/gateway.sock",
	}
}
