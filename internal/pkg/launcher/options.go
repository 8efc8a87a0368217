// Package launcher turns what the user asked for (Options), the
// administrator's policy (apptainer.conf) and facts about the host (Host)
// into a container config. It makes every decision and performs none: no
// file is written, no namespace created, nothing logged. Messages the user
// should see are returned with the config, so every flag combination can be
// checked in a table test.
package launcher

import "time"

// Action is the command that asked for a container.
type Action string

const (
	ActionExec          Action = "exec"
	ActionRun           Action = "run"
	ActionShell         Action = "shell"
	ActionInstanceStart Action = "instance start"
	ActionInstanceRun   Action = "instance run"
)

// IsInstance reports whether the action starts an instance.
func (a Action) IsInstance() bool { return a == ActionInstanceStart || a == ActionInstanceRun }

// startsInstance reports whether o's container is an instance: the
// instance commands', and --sharens's shared one.
func (o Options) startsInstance() bool { return o.Action.IsInstance() || o.ShareNS }

// command is APPTAINER_COMMAND inside the container: the name of
// upstream's action script for the action.
func (a Action) command() string {
	switch a {
	case ActionInstanceStart:
		return "start"
	case ActionInstanceRun, ActionRun:
		return "run"
	case ActionShell:
		return "shell"
	}
	return "exec"
}

// Options are the user's choices, one field per CLI flag (see
// cmd/internal/cli/action_flags.go for names, env keys and defaults).
type Options struct {
	Action       Action
	Image        string   // absolute path of a sandbox directory or a SIF file
	Args         []string // command (exec), or arguments (run, shell, instance)
	InstanceName string
	PidFile      string
	// DelegatedCgroup (--delegated-cgroup) puts a booted instance's
	// cgroup below the caller's own cgroup, which a service manager
	// delegated to it.
	DelegatedCgroup bool
	// ShareNS (--sharens) makes the container the hidden instance
	// InstanceName, which every --sharens container of the caller's
	// parent process, ShareNSParent, joins; it stops when that process
	// does, at the latest.
	ShareNS       bool
	ShareNSParent int

	Boot              bool
	BootHostnet       bool
	BootHostnetUnmask []string
	// BootHostnetGuard is --boot-hostnet-guard; nil when not given, which
	// means apptainer.conf's "boot hostnet guard".
	BootHostnetGuard *string
	BootTimeout      time.Duration // 0 means apptainer.conf's "boot timeout"
	// BootHostnetUserns is --boot-hostnet-userns; nil when not given.
	BootHostnetUserns *bool

	Net         bool
	Network     string // comma-separated CNI network names
	NetworkArgs []string
	NetnsPath   string
	DNS         string // comma-separated name servers

	Hostname string
	UTS      bool
	IPC      bool
	PID      bool
	UserNS   bool
	// Fakeroot (--fakeroot) runs the container's process as the root of a
	// user namespace that maps root to the caller (see userns.go).
	Fakeroot bool

	Contain    bool
	ContainAll bool
	CleanEnv   bool

	Writable      bool
	WritableTmpfs bool
	Binds         []string
	Mounts        []string // --mount: docker's syntax, bind mounts
	App           string   // --app: a SCIF app of the image
	// Overlay are the --overlay directories, absolute, each "path" (the
	// writable layer, one at most) or "path:ro"; the CLI checked that each
	// is a directory.
	Overlay []string
	// OverlayImages are those of the --overlay paths that are overlay
	// image files (ext3), not directories.
	OverlayImages []string
	Home          string
	Workdir       string

	KeepPrivs bool
	NoPrivs   bool
	AddCaps   string
	DropCaps  string

	Env map[string]string // --env
	// EnvFile are the variables of --env-file (see ParseEnvFile); --env
	// wins over them, and they over APPTAINERENV_*.
	EnvFile map[string]string

	Cwd     string   // --cwd/--pwd: the process's working directory
	NoHome  bool     // --no-home
	NoEval  bool     // --no-eval: forced variables are set as they are
	NoUmask bool     // --no-umask: 0022 instead of the caller's umask
	NoMount []string // --no-mount: "mount xxx" directives and bind paths to leave out
	Scratch []string // --scratch: empty directories at these paths

	// Limits are the resource flags (--memory, --cpus, --pids-limit, ...)
	// as the user typed them; see resources.go.
	Limits Limits

	// Plain runs the process as it is, without the action script and the
	// image's environment (a build's %post, which makes that environment).
	Plain bool
}

// Host are the facts about the calling user and the host that decisions
// depend on. The CLI gathers them; tests make them up.
type Host struct {
	UID, GID int
	User     string
	// GIDs and Groups are the caller's groups, for apptainer.conf's
	// "allow net groups".
	GIDs    []int
	Groups  []string
	HomeDir string
	Cwd     string
	Environ []string

	// Hostname is the host's own hostname.
	Hostname string
	// ResolvConf is the path of the host's resolv.conf and Resolv its content.
	ResolvConf string
	Resolv     []byte
	// Localtime reports whether /etc/localtime exists on the host.
	Localtime bool
	// InfinibandDevices are the RDMA device nodes a host-network instance gets.
	InfinibandDevices []string
	// ImageHas reports whether a path exists inside the image.
	ImageHas func(path string) bool
	// Image are the facts apptainer.conf's image restrictions look at.
	Image ImageFacts
	// Realpath resolves the links of a host path (the entries of "limit
	// container paths"); nil leaves paths as they are.
	Realpath func(path string) string
	// HeldCaps are the capabilities the runtime itself holds; a container
	// cannot get more (root here lacks CAP_SYS_RESOURCE, for instance).
	// nil means no limit.
	HeldCaps []string
	// RootFileCaps returns what capability.json grants root, for "root
	// default capabilities = file"; it is only called then. nil grants
	// nothing.
	RootFileCaps func() ([]string, error)
	// ConfigDir is the user's configuration directory ($HOME/.apptainer).
	ConfigDir string
	// RunRoot is the runtime's run directory (/run/apptainer), under which
	// an instance's runtime directory and notify socket are made; empty
	// means unknown, and the socket path is not checked.
	RunRoot string
	// CNICacheDir holds libcni's cache.
	CNICacheDir string
	// CNIPluginDirs are searched when "cni plugin path" is unset; the
	// first, our own libexec directory, also after a set one.
	CNIPluginDirs []string
	// CNIConfDir is used when "cni configuration path" is unset.
	CNIConfDir string
	// SubUID and SubGID are the caller's subordinate ids; the CLI looks
	// them up for --fakeroot only.
	SubUID, SubGID SubIDs
}

// Level of a message returned with a config.
type Level int

const (
	Info Level = iota
	Warning
)

// Message is something the CLI should print, at its level.
type Message struct {
	Level Level
	Text  string
}
