package launcher

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/bind"
	"github.com/apptainer/apptainer/internal/pkg/hostnet/policy"
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/network"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"github.com/apptainer/apptainer/internal/pkg/signal"
	"github.com/google/uuid"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// uuidSpace seeds container_uuid: the same host, user and instance name
// always give the same UUID, so a booted instance keeps its identity across
// restarts, as systemd's container interface asks.
var uuidSpace = uuid.MustParse("6b3d7c2e-4a1f-4d0e-9b8a-2f61c0a4e5d9")

// Build decides everything about one container. The steps follow
// upstream's launcher order (which also orders the errors a user sees);
// each is a small function in this package.
func Build(o Options, conf *apptainerconf.File, h Host) (*config.Config, []Message, error) {
	var msgs []Message
	if err := checkBasics(o, h); err != nil {
		return nil, nil, err
	}
	conf, err := applyNoMount(conf, o.NoMount)
	if err != nil {
		return nil, nil, err
	}
	if err := checkFeatures(o, conf, h); err != nil {
		return nil, nil, err
	}
	un, unMsgs, err := decideUserNS(o, conf, h)
	if err != nil {
		return nil, nil, err
	}
	msgs = append(msgs, unMsgs...)
	limits, err := limitResources(o)
	if err != nil {
		return nil, nil, err
	}
	if o.Writable && o.WritableTmpfs {
		msgs = append(msgs, Message{Warning, "Disabling --writable-tmpfs flag, mutually exclusive with --writable"})
		o.WritableTmpfs = false
	}
	nd, nsMsgs, err := decideNamespaces(o, conf, h)
	if err != nil {
		return nil, nil, err
	}
	msgs = append(msgs, nsMsgs...)
	caps, capMsgs, err := decideCaps(o, h, un.fakeroot, conf.RootDefaultCapabilities, hasNS(nd.list, specs.PIDNamespace))
	if err != nil {
		return nil, nil, err
	}
	msgs = append(msgs, capMsgs...)
	if err := checkImageAllowed(conf, h); err != nil {
		return nil, nil, err
	}
	dns, userBinds, err := parseUserMounts(o, conf, h)
	if err != nil {
		return nil, nil, err
	}
	// Checked after the root-only features so that each gets upstream's
	// own message first.
	if err := un.check(o, h, userBinds); err != nil {
		return nil, nil, err
	}
	contain := o.Contain || o.ContainAll || o.Boot
	home := homeDest(o, h, un.fakeroot)
	mp, err := planMounts(o, h, mountInputs{
		Contain:      contain,
		PIDNS:        hasNS(nd.list, specs.PIDNamespace),
		IPCNS:        hasNS(nd.list, specs.IPCNamespace),
		NewNetNS:     newNetNamespace(nd.list),
		Hostname:     nd.hostname,
		HomeDest:     home,
		Boot:         o.Boot,
		HostNet:      o.BootHostnet,
		Cgroup:       o.Boot,
		BindPaths:    conf.BindPath,
		NoTmp:        !conf.MountTmp,
		NoHome:       !conf.MountHome || o.NoHome,
		NoProc:       !conf.MountProc,
		NoSys:        !conf.MountSys,
		Dev:          conf.MountDev,
		NoDevPts:     !conf.MountDevPts,
		Unprivileged: un.own,
	}, userBinds, dns, conf.ConfigResolvConf)
	if err != nil {
		return nil, nil, err
	}
	c := newConfig(o, conf, h, nd, caps, mp, contain, home)
	un.apply(c, o, h, contain, home)
	procMsgs, err := decideProcess(c, o, h, home)
	if err != nil {
		return nil, nil, err
	}
	msgs = append(msgs, procMsgs...)
	c.Instance = instanceOf(o, h)
	if len(nd.net.Networks) > 0 {
		c.Network = networkConfig(conf, h, nd.net)
	}
	if o.Boot {
		addBoot(c, o, conf, h)
	}
	mergeLimits(&c.Spec, limits)
	if o.BootHostnet {
		hn, err := hostNetConfig(o, conf, h, caps)
		if err != nil {
			return nil, nil, err
		}
		c.HostNet = hn
		c.Spec.Process.Args = append(c.Spec.Process.Args, policy.InitArgs(hn.MaskedUnits)...)
		if nd.userns && !un.own {
			// Root without a user namespace can still write most of the
			// host's net.* sysctls; mapped root cannot. A container in a
			// user namespace of its own (an ordinary user's) has one
			// already.
			c.UserNS = &config.UserNS{Size: IDMapSize}
		}
	}
	return c, msgs, nil
}

// checkFeatures refuses a feature the caller or apptainer.conf does not
// allow, each with its own message, in upstream's order.
func checkFeatures(o Options, conf *apptainerconf.File, h Host) error {
	if err := checkBootHostnet(o, h, conf); err != nil {
		return err
	}
	if err := checkBoot(o, h); err != nil {
		return err
	}
	if err := checkDelegatedCgroup(o); err != nil {
		return err
	}
	return checkMountConf(o, conf)
}

// instanceOf says which instance o's container is; nil for none.
func instanceOf(o Options, h Host) *config.Instance {
	if !o.startsInstance() {
		return nil
	}
	in := &config.Instance{Name: o.InstanceName, User: h.User, UID: h.UID, ConfigDir: h.ConfigDir, PidFile: o.PidFile, DelegatedCgroup: o.DelegatedCgroup}
	if o.ShareNS {
		in.ShareNS, in.StopWith = true, o.ShareNSParent
	}
	if h.UID != 0 {
		in.RunDir = instance.Paths{ConfigDir: h.ConfigDir, Hostname: h.Hostname}.RunDir(o.InstanceName)
	}
	return in
}

// nsDecision is what decideNamespaces settles: the namespaces, the CNI
// networks of a new network namespace, the hostname (empty without a UTS
// namespace) and whether a --boot-hostnet instance gets a user namespace.
type nsDecision struct {
	list     []specs.LinuxNamespace
	net      networkPlan
	hostname string
	userns   bool
}

// decideNamespaces decides the namespaces from the flags, --boot's and
// --boot-hostnet's needs and apptainer.conf's "allow ... ns".
func decideNamespaces(o Options, conf *apptainerconf.File, h Host) (nsDecision, []Message, error) {
	var msgs []Message
	ns := namespaces{
		PID:       o.PID || o.ContainAll || o.startsInstance(),
		IPC:       o.IPC || o.ContainAll,
		UTS:       o.UTS || o.Hostname != "",
		Net:       o.Net,
		NetnsPath: o.NetnsPath,
	}
	hostname := o.Hostname
	if o.Boot {
		ns, hostname = bootInstance(o, ns, h.UID != 0)
		if len(hostname) > 64 {
			return nsDecision{}, nil, fmt.Errorf("%w: hostname %q is longer than 64 characters (--boot uses the instance name unless --hostname is given)", ErrInvalid, hostname)
		}
	}
	if err := checkInstanceName(o, h); err != nil {
		return nsDecision{}, nil, err
	}
	userns, err := decideUserns(o, conf.BootHostnetUserns)
	if err != nil {
		return nsDecision{}, nil, err
	}
	if userns && o.Writable {
		return nsDecision{}, nil, fmt.Errorf("%w: --writable cannot be used in a user namespace: the image is presented read-only through an idmapped mount (use --writable-tmpfs, or --boot-hostnet-userns=false where allowed)", ErrInvalid)
	}
	if userns && len(o.Overlay) > 0 {
		return nsDecision{}, nil, fmt.Errorf("%w: --overlay cannot be used in a user namespace: its directories are the host's, written by host root (use --boot-hostnet-userns=false where allowed)", ErrInvalid)
	}
	if o.BootHostnet {
		// A system booted on the host's network must not share its System
		// V IPC and POSIX message queues either (without a user namespace
		// it would read and write the host's shared memory); and systemd
		// mounts /dev/mqueue, which a user namespace may only do for an
		// IPC namespace it owns.
		if !conf.AllowIpcNs {
			return nsDecision{}, nil, fmt.Errorf("%w: a --boot-hostnet instance needs its own IPC namespace, which apptainer.conf disallows (allow ipc ns = no)", ErrPermission)
		}
		ns.IPC = true
	}
	nsList, plan, nsMsgs := setNamespaces(o, ns)
	msgs = append(msgs, nsMsgs...)
	if err := checkNetworkPermission(o, conf, h, nsList, plan); err != nil {
		return nsDecision{}, nil, err
	}
	if o.Boot && (!conf.AllowUtsNs || !conf.AllowPidNs) {
		// Without its own UTS namespace systemd renames the host; without
		// its own PID namespace init is not PID 1.
		return nsDecision{}, nil, fmt.Errorf("%w: --boot needs its own PID and UTS namespaces, which apptainer.conf disallows (allow pid ns / allow uts ns = no)", ErrPermission)
	}
	nsList, nsMsgs = applyConfNamespaces(conf, nsList, hostname)
	msgs = append(msgs, nsMsgs...)
	if !hasNS(nsList, specs.UTSNamespace) {
		hostname = ""
	}
	return nsDecision{list: nsList, net: plan, hostname: hostname, userns: userns}, msgs, nil
}

// parseUserMounts checks --dns and parses --bind.
func parseUserMounts(o Options, conf *apptainerconf.File, h Host) ([]string, []bind.Spec, error) {
	dns := splitList(o.DNS)
	if err := checkDNS(dns, func(s string) bool { return net.ParseIP(s) != nil }); err != nil {
		return nil, nil, err
	}
	if len(o.Binds) == 0 && len(o.Mounts) == 0 {
		return dns, nil, nil
	}
	if !conf.UserBindControl && h.UID != 0 {
		return nil, nil, fmt.Errorf("%w: user bind control is disabled by system administrator", ErrPermission)
	}
	userBinds, err := bind.ParseAll(o.Binds, h.Cwd)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for _, m := range o.Mounts {
		b, err := bind.ParseMount(m, h.Cwd)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		userBinds = append(userBinds, b)
	}
	return dns, userBinds, nil
}

// newConfig assembles the container config from the decisions.
func newConfig(o Options, conf *apptainerconf.File, h Host, nd nsDecision, caps capSet, mp mountPlan, contain bool, home string) *config.Config {
	c := &config.Config{
		Image:           o.Image,
		Rootfs:          rootfsMode(o),
		Overlay:         overlayOf(o),
		Files:           mp.Files,
		ImageBinds:      mp.ImageBinds,
		Symlinks:        mp.Symlinks,
		Cgroup:          o.Boot,
		NoNewPrivileges: caps.NoNewPrivs,
		MaxLoopDevices:  &conf.MaxLoopDevices,
		Unprivileged:    h.UID != 0,
	}
	cwd := h.Cwd
	if contain {
		cwd = home
	}
	if o.Cwd != "" {
		cwd = o.Cwd
	}
	c.Spec = specs.Spec{
		Version:  specs.Version,
		Hostname: nd.hostname,
		Root:     &specs.Root{Path: "rootfs", Readonly: c.Rootfs == config.RootfsReadOnly},
		Process: &specs.Process{
			User:            specs.User{UID: uint32(h.UID), GID: uint32(h.GID)},
			Cwd:             cwd,
			Capabilities:    capSpec(caps.Caps),
			NoNewPrivileges: caps.NoNewPrivs,
		},
		Mounts: mp.Mounts,
		Linux: &specs.Linux{
			Namespaces:    nd.list,
			Devices:       mp.Devices,
			ReadonlyPaths: mp.ReadOnly,
		},
	}
	if o.Boot {
		c.Spec.Linux.Seccomp = bootSeccomp()
		c.Spec.Linux.MaskedPaths = append([]string(nil), bootMaskedPaths...)
		c.Spec.Linux.Resources = &specs.LinuxResources{Devices: bootDevices()}
	}
	return c
}

// addBoot makes c a booted instance's: init's environment, the boot
// timeout, the stop signal and a container UUID that the same host, user
// and name always give.
func addBoot(c *config.Config, o Options, conf *apptainerconf.File, h Host) {
	id := uuid.NewSHA1(uuidSpace, []byte(h.Hostname+"/"+h.User+"/"+o.InstanceName)).String()
	timeout := o.BootTimeout
	if timeout == 0 {
		timeout = time.Duration(conf.BootTimeout) * time.Second
	}
	c.Boot = &config.Boot{Timeout: timeout, StopSignal: int(signal.RTMin + 3), ContainerUUID: id, ConsoleLogMax: int64(conf.BootConsoleLogSize) << 20}
	c.Spec.Process.Env = initEnv(id)
	c.Spec.Process.Cwd = "/"
}

// decideUserns says whether a --boot-hostnet instance runs in a user
// namespace: apptainer.conf's "boot hostnet userns" decides, and a user may
// turn it off for one run only where the administrator made it optional.
func decideUserns(o Options, mode string) (bool, error) {
	if !o.BootHostnet {
		if o.BootHostnetUserns != nil {
			return false, fmt.Errorf("%w: --boot-hostnet-userns requires --boot-hostnet", ErrInvalid)
		}
		return false, nil
	}
	want := o.BootHostnetUserns
	switch mode {
	case apptainerconf.UsernsNo:
		if want != nil && *want {
			return false, fmt.Errorf("%w: --boot-hostnet-userns: the administrator turned user namespaces off (boot hostnet userns = no in apptainer.conf)", ErrPermission)
		}
		return false, nil
	case apptainerconf.UsernsOptional:
		return want == nil || *want, nil
	default:
		if want != nil && !*want {
			return false, fmt.Errorf("%w: --boot-hostnet-userns=false is not allowed: apptainer.conf says \"boot hostnet userns = yes\" (an administrator may set it to optional)", ErrPermission)
		}
		return true, nil
	}
}

// IDMapSize is the number of ids each user-namespaced instance gets.
const IDMapSize = 65536

// checkBasics refuses what this build cannot do at all.
func checkBasics(o Options, h Host) error {
	if o.Image == "" || !filepath.IsAbs(o.Image) {
		return fmt.Errorf("%w: image path %q must be absolute", ErrInvalid, o.Image)
	}
	if o.startsInstance() && o.InstanceName == "" {
		return fmt.Errorf("%w: an instance name is required", ErrInvalid)
	}
	return nil
}

// checkNetworkPermission applies upstream's rules for non-root users:
// joining a namespace needs "allow net users/groups" and "allow netns
// paths", CNI networks need "allow net users/groups" and "allow net
// networks".
func checkNetworkPermission(o Options, conf *apptainerconf.File, h Host, nsList []specs.LinuxNamespace, plan networkPlan) error {
	if h.UID == 0 {
		return nil
	}
	caller := network.Caller{UID: h.UID, User: h.User, GIDs: h.GIDs, Groups: h.Groups}
	allow := network.Allow{NetUsers: conf.AllowNetUsers, NetGroups: conf.AllowNetGroups, NetNetworks: conf.AllowNetNetworks, NetnsPaths: conf.AllowNetnsPaths}
	if o.NetnsPath != "" {
		if err := network.CheckNetnsPermission(o.NetnsPath, caller, allow); err != nil {
			return fmt.Errorf("%w: %w", ErrPermission, err)
		}
	}
	if newNetNamespace(nsList) && !network.IsNone(plan.Networks) {
		if err := network.CheckNetworksPermission(plan.Networks, caller, allow); err != nil {
			return fmt.Errorf("%w: %w", ErrPermission, err)
		}
	}
	return nil
}

// hostNetConfig applies --boot-hostnet's safeguards: the effective list of
// masked units, the capabilities dropped and the guard mode. The read-only
// /sys and /proc/sys and the private read-only resolv.conf come from
// planMounts; the missing network namespace from setNamespaces.
func hostNetConfig(o Options, conf *apptainerconf.File, h Host, caps capSet) (*config.HostNet, error) {
	masks, err := policy.EffectiveMasks(conf.BootHostnetMaskUnits, o.BootHostnetUnmask)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	guard := conf.BootHostnetGuard
	if o.BootHostnetGuard != nil {
		guard = *o.BootHostnetGuard
	}
	mode, err := config.ParseGuardMode(guard)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return &config.HostNet{MaskedUnits: masks, DroppedCaps: caps.HostnetDropped, Guard: mode, ResolvConf: h.ResolvConf}, nil
}

// decideProcess sets what runs in c and with which environment: the
// image's environment applies as upstream applies it, its scripts run in
// the container by the image's shell (for an instance, in front of every
// command joined to it too).
func decideProcess(c *config.Config, o Options, h Host, home string) ([]Message, error) {
	args, shim, err := processArgs(o, h)
	if err != nil {
		return nil, err
	}
	plan, msgs := planEnv(o, h, o.CleanEnv || o.ContainAll, home, c.Spec.Process.Cwd)
	c.Spec.Process.Env = plan.direct()
	if !o.Boot && !o.Plain && h.ImageHas != nil && h.ImageHas(actionShell) {
		if len(args) > 0 {
			args = withAction(args)
		}
		c.Spec.Process.Env = plan.forAction(!o.NoEval)
	}
	c.Spec.Process.Args = args
	c.Shim = shim
	if o.NoUmask {
		umask := uint32(0o022)
		c.Spec.Process.User.Umask = &umask
	}
	return msgs, nil
}

// processArgs decides what runs: init for --boot, the runtime's shim for
// other instances (with the start or run script as its child), the
// runscript, a shell, or the user's command.
func processArgs(o Options, h Host) ([]string, bool, error) {
	has := func(p string) bool { return h.ImageHas == nil || h.ImageHas(p) }
	if o.ShareNS {
		// The shared instance's PID 1 only holds it: each container of
		// the parent process runs its own command in it, joined.
		if o.Action == ActionExec && len(o.Args) == 0 {
			return nil, false, fmt.Errorf("%w: exec needs a command to run", ErrInvalid)
		}
		return nil, true, nil
	}
	if o.App != "" {
		return appArgs(o, h, has)
	}
	switch {
	case o.Boot:
		if !has("/sbin/init") {
			return nil, false, fmt.Errorf("%w: --boot needs /sbin/init in the image, and %s has none", ErrInvalid, o.Image)
		}
		return []string{"/sbin/init"}, false, nil
	case o.Action == ActionInstanceStart:
		if has("/.singularity.d/startscript") {
			return append([]string{"/.singularity.d/startscript"}, o.Args...), true, nil
		}
		return nil, true, nil
	case o.Action == ActionInstanceRun:
		if has("/.singularity.d/runscript") {
			return append([]string{"/.singularity.d/runscript"}, o.Args...), true, nil
		}
		return nil, true, nil
	case o.Action == ActionRun:
		if has("/.singularity.d/runscript") {
			return append([]string{"/.singularity.d/runscript"}, o.Args...), false, nil
		}
		return nil, false, fmt.Errorf("%w: no runscript found in %s (/.singularity.d/runscript)", ErrInvalid, o.Image)
	case o.Action == ActionShell && h.ImageHas != nil && h.ImageHas("/bin/bash"):
		// bash without its rc files, as upstream, so that the prompt is
		// the container's.
		return append([]string{"/bin/bash", "--norc"}, o.Args...), false, nil
	case o.Action == ActionShell:
		return append([]string{"/bin/sh"}, o.Args...), false, nil
	default:
		if len(o.Args) == 0 {
			return nil, false, fmt.Errorf("%w: exec needs a command to run", ErrInvalid)
		}
		return o.Args, false, nil
	}
}

// appArgs is processArgs with --app: the app's runscript or startscript
// (upstream's /scif layout), or the command; its environment comes from
// the image's 95-apps.sh, which reads APPTAINER_APPNAME.
func appArgs(o Options, h Host, has func(string) bool) ([]string, bool, error) {
	root := "/scif/apps/" + o.App
	switch {
	case o.Boot:
		return nil, false, fmt.Errorf("%w: --app cannot be used with --boot: a booted instance runs /sbin/init", ErrInvalid)
	case strings.Contains(o.App, "/") || !has(root):
		return nil, false, fmt.Errorf("%w: no app %q in %s (see apptainer inspect --list-apps)", ErrInvalid, o.App, o.Image)
	case o.Action == ActionRun || o.Action == ActionInstanceRun:
		if !has(root + "/scif/runscript") {
			return nil, false, fmt.Errorf("%w: no runscript for contained app: %s", ErrInvalid, o.App)
		}
		return append([]string{root + "/scif/runscript"}, o.Args...), o.Action == ActionInstanceRun, nil
	case o.Action == ActionInstanceStart:
		if !has(root + "/scif/startscript") {
			return nil, true, nil
		}
		return append([]string{root + "/scif/startscript"}, o.Args...), true, nil
	}
	o.App = ""
	return processArgs(o, h)
}

// applyConfNamespaces removes namespaces the administrator disallowed, with
// upstream's warnings.
func applyConfNamespaces(conf *apptainerconf.File, list []specs.LinuxNamespace, hostname string) ([]specs.LinuxNamespace, []Message) {
	var msgs []Message
	drop := func(t specs.LinuxNamespaceType, allowed bool, what string) {
		if allowed || !hasNS(list, t) {
			return
		}
		msgs = append(msgs, Message{Warning, fmt.Sprintf("Not virtualizing %s namespace by configuration", what)})
		var kept []specs.LinuxNamespace
		for _, n := range list {
			if n.Type != t {
				kept = append(kept, n)
			}
		}
		list = kept
	}
	drop(specs.IPCNamespace, conf.AllowIpcNs, "ipc")
	drop(specs.PIDNamespace, conf.AllowPidNs, "pid")
	before := hasNS(list, specs.UTSNamespace)
	drop(specs.UTSNamespace, conf.AllowUtsNs, "uts")
	if before && !hasNS(list, specs.UTSNamespace) && hostname != "" {
		msgs = append(msgs, Message{Warning, "Container hostname cannot be set."})
	}
	return list, msgs
}

func networkConfig(conf *apptainerconf.File, h Host, plan networkPlan) *config.Network {
	confDir := conf.CNIConfPath
	if confDir == "" {
		confDir = h.CNIConfDir
	}
	plugins := cniPluginDirs(conf.CNIPluginPath, h.CNIPluginDirs)
	return &config.Network{Networks: plan.Networks, Args: plan.Args, ConfDir: confDir, PluginDirs: plugins, CacheDir: h.CNICacheDir}
}

// cniPluginDirs are the directories searched for CNI plugins, in order:
// the search list (ours, the distributions') when "cni plugin path" is
// unset; else that directory, then our own libexec one (the search list's
// first), so that a site that put plugins there keeps them with the
// installed apptainer.conf pointing at Debian's /usr/lib/cni.
func cniPluginDirs(configured string, search []string) []string {
	if configured == "" {
		return search
	}
	dirs := []string{configured}
	if len(search) > 0 && filepath.Clean(search[0]) != filepath.Clean(configured) {
		dirs = append(dirs, search[0])
	}
	return dirs
}

func rootfsMode(o Options) config.RootfsMode {
	switch {
	case o.Writable:
		return config.RootfsWritable
	case o.WritableTmpfs || o.Boot || hasWritableOverlay(o):
		// systemd needs a writable /var and /etc to reach "running".
		return config.RootfsTmpfsOverlay
	}
	return config.RootfsReadOnly
}

func capSpec(caps []string) *specs.LinuxCapabilities {
	return &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps}
}

func hasNS(list []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, n := range list {
		if n.Type == t {
			return true
		}
	}
	return false
}
