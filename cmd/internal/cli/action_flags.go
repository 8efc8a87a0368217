package cli

import (
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/spf13/pflag"
)

// actionOptions holds the values of the action flags of one command.
type actionOptions struct {
	launcher.Options
	// conf is where apptainer.conf comes from (-c, see configSource).
	conf confSource
	// envFile is --env-file, read into Options.EnvFile.
	envFile string
	// cgroupsFile is --apply-cgroups, read into Options.Limits.File.
	cgroupsFile string
	bootTimeout int
	// bootHostnetUserns holds --boot-hostnet-userns and bootHostnetGuard
	// --boot-hostnet-guard; each reaches Options only when given (see
	// newInstanceStartCommand), so that an empty --boot-hostnet-guard= is
	// told from no flag at all.
	bootHostnetUserns bool
	bootHostnetGuard  string
	// oci says how an OCI source (docker://...) is fetched for exec, run
	// and shell.
	oci ociFlags
	// sink receives values of flags this build does not implement.
	sink struct {
		b bool
		s string
		l []string
	}
}

func boolFlag(field func(*actionOptions) *bool) func(*pflag.FlagSet, *actionOptions, string, string, string) {
	return func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
		fs.BoolVarP(field(o), name, short, false, usage)
	}
}

func int64Flag(field func(*actionOptions) *int64) func(*pflag.FlagSet, *actionOptions, string, string, string) {
	return func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
		fs.Int64VarP(field(o), name, short, 0, usage)
	}
}

func stringFlag(field func(*actionOptions) *string) func(*pflag.FlagSet, *actionOptions, string, string, string) {
	return func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
		fs.StringVarP(field(o), name, short, "", usage)
	}
}

// sliceFlag values are split on commas, as pflag StringSlices are upstream.
func sliceFlag(field func(*actionOptions) *[]string) func(*pflag.FlagSet, *actionOptions, string, string, string) {
	return func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
		fs.StringSliceVarP(field(o), name, short, nil, usage)
	}
}

// itemsFlag values are split on commas like sliceFlag's, but an empty
// value or item is kept rather than dropped, so that the launcher can
// refuse it with a message instead of ignoring it.
func itemsFlag(field func(*actionOptions) *[]string) func(*pflag.FlagSet, *actionOptions, string, string, string) {
	return func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
		fs.VarP(&commaItems{field(o)}, name, short, usage)
	}
}

// commaItems is the pflag.Value of itemsFlag.
type commaItems struct{ v *[]string }

func (c *commaItems) Set(s string) error {
	*c.v = append(*c.v, strings.Split(s, ",")...)
	return nil
}

func (c *commaItems) String() string {
	if len(*c.v) == 0 {
		return ""
	}
	return "[" + strings.Join(*c.v, ",") + "]"
}

func (c *commaItems) Type() string { return "strings" }

// arrayFlag values are kept whole (--bind splits its own commas later).
func arrayFlag(field func(*actionOptions) *[]string) func(*pflag.FlagSet, *actionOptions, string, string, string) {
	return func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
		fs.StringArrayVarP(field(o), name, short, nil, usage)
	}
}

var (
	unsupportedBool   = boolFlag(func(o *actionOptions) *bool { return &o.sink.b })
	unsupportedString = stringFlag(func(o *actionOptions) *string { return &o.sink.s })
	unsupportedArray  = arrayFlag(func(o *actionOptions) *[]string { return &o.sink.l })
)

// actionFlags is the one table of flags for exec, run, shell, instance
// start and instance run: names, shorthands, env keys and help as upstream,
// plus this project's --boot-hostnet family.
var actionFlags = []flagSpec{
	// Booting.
	{Name: "boot", Usage: "execute /sbin/init to boot container (root only)", EnvKeys: []string{"BOOT"}, Groups: groupInstance,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.Boot })},
	{Name: "boot-hostnet", Usage: "with --boot, keep the booted instance in the host network namespace instead of a new one, with safeguards (network units masked, net capabilities dropped, read-only /sys and /proc/sys, private read-only resolv.conf) and a check that the host network is unchanged (root only)",
		EnvKeys: []string{"BOOT_HOSTNET"}, Groups: groupInstance,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.BootHostnet })},
	{Name: "boot-hostnet-unmask", Usage: "with --boot-hostnet, let this systemd unit run although it is on the list of masked network units (repeatable, comma-separated)",
		EnvKeys: []string{"BOOT_HOSTNET_UNMASK"}, Groups: groupInstance,
		Var: itemsFlag(func(o *actionOptions) *[]string { return &o.BootHostnetUnmask })},
	{Name: "boot-hostnet-guard", Usage: "with --boot-hostnet, what to do when the host network changed during boot: off, warn or fail (default from apptainer.conf, normally warn)",
		EnvKeys: []string{"BOOT_HOSTNET_GUARD"}, Groups: groupInstance,
		Var: stringFlag(func(o *actionOptions) *string { return &o.bootHostnetGuard })},
	{Name: "boot-hostnet-userns", Usage: "with --boot-hostnet, run the instance in a user namespace (default true; =false only where apptainer.conf says \"boot hostnet userns = optional\")",
		EnvKeys: []string{"BOOT_HOSTNET_USERNS"}, Groups: groupInstance,
		Var: func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
			fs.BoolVarP(&o.bootHostnetUserns, name, short, true, usage)
		}},
	{Name: "boot-timeout", Usage: "with --boot, seconds to wait for systemd to report the system ready, or for another init's processes to settle (default from apptainer.conf, normally 90)",
		EnvKeys: []string{"BOOT_TIMEOUT"}, Groups: groupInstance,
		Var: func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
			fs.IntVarP(&o.bootTimeout, name, short, 0, usage)
		}},
	{Name: "delegated-cgroup", Usage: "with --boot, make the instance's cgroup below the cgroup this command runs in, which systemd delegated to it (Delegate=yes; apptainer-instance@.service sets this), instead of apptainer/USER.NAME at the top of the cgroup2 hierarchy (root only)",
		EnvKeys: []string{"DELEGATED_CGROUP"}, Groups: groupInstance,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.DelegatedCgroup })},
	{Name: "pid-file", Usage: "write instance PID to the file with the given name", EnvKeys: []string{"PID_FILE"}, Groups: groupInstance,
		Var: stringFlag(func(o *actionOptions) *string { return &o.PidFile })},

	// Networking.
	{Name: "net", Short: "n", Usage: "run container in a new network namespace (sets up a bridge network interface by default)", EnvKeys: []string{"NET", "UNSHARE_NET"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.Net })},
	{Name: "network", Usage: "specify desired network type separated by commas, each network will bring up a dedicated interface inside container", EnvKeys: []string{"NETWORK"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Network })},
	{Name: "network-args", Usage: "specify network arguments to pass to CNI plugins", EnvKeys: []string{"NETWORK_ARGS"}, Groups: groupAll,
		Var: sliceFlag(func(o *actionOptions) *[]string { return &o.NetworkArgs })},
	{Name: "netns-path", Usage: "join the network namespace at the specified path (as root, or if permitted in apptainer.conf)", EnvKeys: []string{"NETNS_PATH"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.NetnsPath })},
	{Name: "dns", Usage: "list of DNS server separated by commas to add in resolv.conf", EnvKeys: []string{"DNS"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.DNS })},

	// Namespaces.
	{Name: "hostname", Usage: "set container hostname", EnvKeys: []string{"HOSTNAME"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Hostname })},
	{Name: "uts", Usage: "run container in a new UTS namespace", EnvKeys: []string{"UTS", "UNSHARE_UTS"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.UTS })},
	{Name: "ipc", Short: "i", Usage: "run container in a new IPC namespace", EnvKeys: []string{"IPC", "UNSHARE_IPC"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.IPC })},
	{Name: "pid", Short: "p", Usage: "run container in a new PID namespace", EnvKeys: []string{"PID", "UNSHARE_PID"}, Groups: groupActions,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.PID })},
	{Name: "userns", Short: "u", Usage: "run container in a new user namespace", EnvKeys: []string{"USERNS", "UNSHARE_USERNS"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.UserNS })},
	{Name: "fakeroot", Short: "f", Usage: "run container with the appearance of running as root", EnvKeys: []string{"FAKEROOT"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.Fakeroot })},

	// Privileges.
	{Name: "keep-privs", Usage: "let root user keep privileges in container (root only)", EnvKeys: []string{"KEEP_PRIVS"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.KeepPrivs })},
	{Name: "no-privs", Usage: "drop all privileges from root user in container", EnvKeys: []string{"NO_PRIVS"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.NoPrivs })},
	{Name: "add-caps", Usage: "a comma separated capability list to add", EnvKeys: []string{"ADD_CAPS"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.AddCaps })},
	{Name: "drop-caps", Usage: "a comma separated capability list to drop", EnvKeys: []string{"DROP_CAPS"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.DropCaps })},
	{Name: "allow-setuid", Usage: "allow setuid binaries in container (root only)", EnvKeys: []string{"ALLOW_SETUID"}, Groups: groupAll, Unsupported: true,
		Var: unsupportedBool},
	{Name: "security", Usage: "enable security features (SELinux, Apparmor, Seccomp)", EnvKeys: []string{"SECURITY"}, Groups: groupAll, Unsupported: true,
		Var: unsupportedArray},

	// OCI sources (exec/run/shell/instance start docker://...).
	{Name: "disable-cache", Usage: "do not use or create cached images/blobs", EnvKeys: []string{"DISABLE_CACHE"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.oci.disableCache })},
	{Name: "no-https", Usage: "use http instead of https for docker:// oras:// and library://<hostname>/... URIs", EnvKeys: []string{"NOHTTPS", "NO_HTTPS"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.oci.noHTTPS })},
	{Name: "authfile", Usage: "Docker-style authentication file to use for writing/reading OCI registry credentials", EnvKeys: []string{"AUTH_FILE"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.oci.authFile })},
	{Name: "docker-login", Usage: "login to a Docker Repository interactively", EnvKeys: []string{"DOCKER_LOGIN"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.oci.dockerLogin })},
	{Name: "docker-username", Usage: "specify a username for docker authentication", EnvKeys: []string{"DOCKER_USERNAME"}, Groups: groupAll, Hidden: true,
		Var: stringFlag(func(o *actionOptions) *string { return &o.oci.dockerUser })},
	{Name: "docker-password", Usage: "specify a password for docker authentication", EnvKeys: []string{"DOCKER_PASSWORD"}, Groups: groupAll, Hidden: true,
		Var: stringFlag(func(o *actionOptions) *string { return &o.oci.dockerPW })},
	{Name: "nohttps", Usage: "use http instead of https for docker:// oras:// and library://<hostname>/... URIs (deprecated: use --no-https)", Groups: groupAll, Hidden: true,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.oci.noHTTPS })},

	// Containment and environment.
	{Name: "contain", Short: "c", Usage: "use minimal /dev and empty other directories (e.g. /tmp and $HOME) instead of sharing filesystems from your host", EnvKeys: []string{"CONTAIN"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.Contain })},
	{Name: "containall", Short: "C", Usage: "contain not only file systems, but also PID, IPC, and environment", EnvKeys: []string{"CONTAINALL"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.ContainAll })},
	{Name: "cleanenv", Short: "e", Usage: "clean environment before running container", EnvKeys: []string{"CLEANENV"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.CleanEnv })},
	{Name: "env", Usage: "pass environment variable to contained process", Groups: groupAll,
		Var: func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
			fs.StringToStringVarP(&o.Env, name, short, nil, usage)
		}},
	{Name: "env-file", Usage: "pass environment variables from file to contained process", EnvKeys: []string{"ENV_FILE"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.envFile })},
	{Name: "no-eval", Usage: "do not shell evaluate env vars or OCI container CMD/ENTRYPOINT/ARGS", EnvKeys: []string{"NO_EVAL"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.NoEval })},
	{Name: "no-umask", Usage: "do not propagate umask to the container, set default 0022 umask", EnvKeys: []string{"NO_UMASK"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.NoUmask })},
	{Name: "cwd", Usage: "initial working directory for payload process inside the container (synonym for --pwd)", EnvKeys: []string{"CWD", "TARGET_CWD"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Cwd })},
	{Name: "pwd", Usage: "initial working directory for payload process inside the container (synonym for --cwd)", EnvKeys: []string{"PWD", "TARGET_PWD"}, Groups: groupAll, Hidden: true,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Cwd })},
	{Name: "compat", Usage: "apply settings for increased OCI/Docker compatibility", EnvKeys: []string{"COMPAT"}, Groups: groupAll, Unsupported: true,
		Var: unsupportedBool},
	// This build never starts a shim in front of exec/run/shell with
	// --pid: --no-init asks for what it does anyway.
	{Name: "no-init", Usage: "do NOT start shim process with --pid", EnvKeys: []string{"NOSHIMINIT"}, Groups: groupAll,
		Var: unsupportedBool},

	// Filesystems.
	{Name: "writable", Short: "w", Usage: "by default all Apptainer containers are available as read only, this option makes the file system accessible as read/write", EnvKeys: []string{"WRITABLE"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.Writable })},
	{Name: "writable-tmpfs", Usage: "makes the file system accessible as read-write with non persistent data (with overlay support only)", EnvKeys: []string{"WRITABLE_TMPFS"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.WritableTmpfs })},
	{Name: "bind", Short: "B", Usage: "a user-bind path specification. spec has the format src[:dest[:opts]], where src and dest are outside and inside paths. If dest is not given, it is set equal to src. Mount options ('opts') may be specified as 'ro' (read-only) or 'rw' (read/write, which is the default). Multiple bind paths can be given by a comma separated list.",
		EnvKeys: []string{"BIND", "BINDPATH"}, Groups: groupAll, EnvAppend: true,
		Var: arrayFlag(func(o *actionOptions) *[]string { return &o.Binds })},
	// Each value is one mount: its commas are its fields'.
	{Name: "mount", Usage: "a mount specification e.g. 'type=bind,src=/opt,dst=/hostopt'.", EnvKeys: []string{"MOUNT"}, Groups: groupAll,
		Var: func(fs *pflag.FlagSet, o *actionOptions, name, short, usage string) {
			fs.StringArrayVarP(&o.Mounts, name, short, nil, usage)
		}},
	{Name: "home", Short: "H", Usage: "a home directory specification. spec can either be a src path or src:dest pair. src is the source path of the home directory outside the container and dest overrides the home directory within the container.",
		EnvKeys: []string{"HOME"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Home })},
	{Name: "workdir", Short: "W", Usage: "working directory to be used for /tmp, /var/tmp and $HOME (if -c/--contain was also used)", EnvKeys: []string{"WORKDIR"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Workdir })},
	{Name: "no-mount", Usage: "disable one or more 'mount xxx' options set in apptainer.conf and/or specify absolute destination path to disable a bind path entry, or 'bind-paths' to disable all bind path entries.", EnvKeys: []string{"NO_MOUNT"}, Groups: groupAll,
		Var: arrayFlag(func(o *actionOptions) *[]string { return &o.NoMount })},
	{Name: "no-home", Usage: "do NOT mount users home directory if /home is not the current working directory", EnvKeys: []string{"NO_HOME"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.NoHome })},
	{Name: "overlay", Short: "o", Usage: "use an overlayFS image for persistent data storage or as read-only layer of container", EnvKeys: []string{"OVERLAY", "OVERLAYIMAGE"}, Groups: groupAll,
		Var: arrayFlag(func(o *actionOptions) *[]string { return &o.Overlay })},
	{Name: "scratch", Short: "S", Usage: "include a scratch directory within the container that is linked to a temporary dir (use -W to force location)", EnvKeys: []string{"SCRATCH", "SCRATCHDIR"}, Groups: groupAll,
		Var: arrayFlag(func(o *actionOptions) *[]string { return &o.Scratch })},
	// Resource limits: booted instances (see launcher/resources.go).
	{Name: "memory", Usage: "Memory limit in bytes", EnvKeys: []string{"MEMORY"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Limits.Memory })},
	{Name: "memory-reservation", Usage: "Memory soft limit in bytes", EnvKeys: []string{"MEMORY_RESERVATION"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Limits.MemoryReservation })},
	{Name: "memory-swap", Usage: "Swap limit, use -1 for unlimited swap", EnvKeys: []string{"MEMORY_SWAP"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Limits.MemorySwap })},
	// Upstream reads --cpus from APPTAINER_CPU_SHARES too, which also sets
	// --cpu-shares: here it is APPTAINER_CPUS.
	{Name: "cpus", Usage: "Number of CPUs available to container", EnvKeys: []string{"CPUS"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Limits.CPUs })},
	{Name: "cpu-shares", Usage: "CPU shares for container", EnvKeys: []string{"CPU_SHARES"}, Groups: groupAll,
		Var: int64Flag(func(o *actionOptions) *int64 { return &o.Limits.CPUShares })},
	{Name: "cpuset-cpus", Usage: "List of host CPUs available to container", EnvKeys: []string{"CPUSET_CPUS"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Limits.CPUSetCPUs })},
	{Name: "cpuset-mems", Usage: "List of host memory nodes available to container", EnvKeys: []string{"CPUSET_MEMS"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.Limits.CPUSetMems })},
	{Name: "pids-limit", Usage: "Limit number of container PIDs, use -1 for unlimited", EnvKeys: []string{"PIDS_LIMIT"}, Groups: groupAll,
		Var: int64Flag(func(o *actionOptions) *int64 { return &o.Limits.PidsLimit })},
	{Name: "blkio-weight", Usage: "Block IO relative weight in range 10-1000, 0 to disable", EnvKeys: []string{"BLKIO_WEIGHT"}, Groups: groupAll,
		Var: int64Flag(func(o *actionOptions) *int64 { return &o.Limits.BlkioWeight })},
	{Name: "oom-kill-disable", Usage: "Disable OOM killer", EnvKeys: []string{"OOM_KILL_DISABLE"}, Groups: groupAll,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.Limits.OOMKillDisable })},
	{Name: "apply-cgroups", Usage: "apply cgroups from file for container processes (root only)", EnvKeys: []string{"APPLY_CGROUPS"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.cgroupsFile })},
	{Name: "nv", Usage: "enable Nvidia support", EnvKeys: []string{"NV"}, Groups: groupAll, Unsupported: true,
		Var: unsupportedBool},
	{Name: "rocm", Usage: "enable experimental Rocm support", EnvKeys: []string{"ROCM"}, Groups: groupAll, Unsupported: true,
		Var: unsupportedBool},
	// --sharens: the containers of one parent process (MPI ranks) share a
	// hidden instance (sharens.go).
	{Name: "sharens", Usage: "share the namespace and image with other containers launched from the same parent process", EnvKeys: []string{"SHARENS"}, Groups: groupActions,
		Var: boolFlag(func(o *actionOptions) *bool { return &o.ShareNS })},
	{Name: "app", Usage: "set an application to run inside a container", EnvKeys: []string{"APP", "APPNAME"}, Groups: groupAll,
		Var: stringFlag(func(o *actionOptions) *string { return &o.App })},
}
