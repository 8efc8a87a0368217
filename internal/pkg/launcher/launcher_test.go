package launcher

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/capabilities"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func str(s string) *string { return &s }

func rootHost() Host {
	return Host{
		UID: 0, GID: 0, User: "root", HomeDir: "/root", Cwd: "/work",
		Environ:       []string{"PATH=/usr/bin", "TERM=xterm", "FOO=bar", "APPTAINER_BIND=/x", "APPTAINERENV_INJECTED=yes"},
		Hostname:      "node7",
		ResolvConf:    "/etc/resolv.conf",
		Resolv:        []byte("nameserver 10.0.0.53\n"),
		Localtime:     true,
		ConfigDir:     "/root/.apptainer",
		CNIConfDir:    "/etc/apptainer/network",
		CNIPluginDirs: []string{"/usr/lib/cni"},
		CNICacheDir:   "/run/apptainer/cni-cache",
		RunRoot:       "/run/apptainer",
	}
}

func instanceOpts(mod func(*Options)) Options {
	o := Options{Action: ActionInstanceStart, Image: "/img/debian", InstanceName: "node1"}
	if mod != nil {
		mod(&o)
	}
	return o
}

// nsSummary renders a namespace list as "mnt,net,uts,pid" with joined
// paths as "net=/path".
func nsSummary(c *config.Config) string {
	var parts []string
	for _, n := range c.Spec.Linux.Namespaces {
		s := string(n.Type)
		if n.Path != "" {
			s += "=" + n.Path
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

func networks(c *config.Config) string {
	if c.Network == nil {
		return ""
	}
	return strings.Join(c.Network.Networks, ",")
}

func TestNamespaceAndNetworkMatrix(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantNS   string
		wantNets string
		wantMsg  string
	}{
		{"exec plain", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}}, "mount", "", ""},
		{"exec --net defaults to bridge", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Net: true}, "mount,network", "bridge", ""},
		{"exec --network implies --net", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Network: "ptp,bridge"}, "mount,network", "ptp,bridge", "Setting --net (required by --network)"},
		{"exec --network-args implies --net", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, NetworkArgs: []string{"portmap=80/tcp"}}, "mount,network", "bridge", "Setting --net (required by --network-args)"},
		{"exec --netns-path joins", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, NetnsPath: "/run/netns/x"}, "mount,network=/run/netns/x", "", ""},
		{"--net with --netns-path: the path wins", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Net: true, NetnsPath: "/run/netns/x"}, "mount,network=/run/netns/x", "", "cannot join existing --netns-path"},
		{"exec --containall", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, ContainAll: true}, "mount,pid,ipc", "", ""},
		{"exec --hostname implies uts", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Hostname: "h"}, "mount,uts", "", ""},
		{"instance gets a PID namespace", instanceOpts(nil), "mount,pid", "", ""},
		{"--boot: new netns with the bridge", instanceOpts(func(o *Options) { o.Boot = true }), "mount,network,uts,pid", "bridge", ""},
		{"--boot --network none", instanceOpts(func(o *Options) { o.Boot = true; o.Network = "none" }), "mount,network,uts,pid", "none", ""},
		{"--boot --network ptp", instanceOpts(func(o *Options) { o.Boot = true; o.Network = "ptp" }), "mount,network,uts,pid", "ptp", ""},
		{"--boot --netns-path", instanceOpts(func(o *Options) { o.Boot = true; o.NetnsPath = "/proc/1/ns/net" }), "mount,network=/proc/1/ns/net,uts,pid", "", "cannot join existing --netns-path"},
		{"--boot --boot-hostnet: host network, no CNI, user namespace with IPC", instanceOpts(func(o *Options) { o.Boot = true; o.BootHostnet = true }), "mount,uts,pid,ipc", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, msgs, err := Build(tt.opts, apptainerconf.Default(), rootHost())
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if got := nsSummary(c); got != tt.wantNS {
				t.Errorf("namespaces = %q, want %q", got, tt.wantNS)
			}
			if got := networks(c); got != tt.wantNets {
				t.Errorf("networks = %q, want %q", got, tt.wantNets)
			}
			if tt.wantMsg != "" && !slices.ContainsFunc(msgs, func(m Message) bool { return strings.Contains(m.Text, tt.wantMsg) }) {
				t.Errorf("messages %v lack %q", msgs, tt.wantMsg)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	user := rootHost()
	user.UID, user.User = 1000, "alice"
	deny := apptainerconf.Default()
	deny.AllowBootHostnet = false
	boot := func(mod func(*Options)) Options {
		return instanceOpts(func(o *Options) { o.Boot = true; o.BootHostnet = true; mod(o) })
	}
	tests := []struct {
		name  string
		opts  Options
		conf  *apptainerconf.File
		host  Host
		class error
		want  string
	}{
		{"hostnet without boot", instanceOpts(func(o *Options) { o.BootHostnet = true }), nil, rootHost(), ErrInvalid, "--boot-hostnet requires --boot"},
		{"hostnet with --net", boot(func(o *Options) { o.Net = true }), nil, rootHost(), ErrInvalid, "cannot be combined with --net"},
		{"hostnet with --network", boot(func(o *Options) { o.Network = "bridge" }), nil, rootHost(), ErrInvalid, "cannot be combined with --network"},
		{"hostnet with --network-args", boot(func(o *Options) { o.NetworkArgs = []string{"portmap=80/tcp"} }), nil, rootHost(), ErrInvalid, "cannot be combined with --network-args"},
		{"hostnet with --netns-path", boot(func(o *Options) { o.NetnsPath = "/proc/1/ns/net" }), nil, rootHost(), ErrInvalid, "cannot be combined with --netns-path"},
		{"hostnet as non-root", boot(func(*Options) {}), nil, user, ErrPermission, "user alice is not allowed to boot instances on the host network"},
		{"hostnet disabled by conf", boot(func(*Options) {}), deny, rootHost(), ErrPermission, "allow boot hostnet = no"},
		{"boot with uts ns disallowed", instanceOpts(func(o *Options) { o.Boot = true }), func() *apptainerconf.File {
			c := apptainerconf.Default()
			c.AllowUtsNs = false
			return c
		}(), rootHost(), ErrPermission, "allow pid ns / allow uts ns = no"},
		{"writable in a user namespace", boot(func(o *Options) { o.Writable = true }), nil, rootHost(), ErrInvalid, "--writable cannot be used in a user namespace"},
		{"user namespace without ipc ns", boot(func(*Options) {}), func() *apptainerconf.File {
			c := apptainerconf.Default()
			c.AllowIpcNs = false
			return c
		}(), rootHost(), ErrPermission, "allow ipc ns = no"},
		{"unmask without hostnet", instanceOpts(func(o *Options) { o.Boot = true; o.BootHostnetUnmask = []string{"systemd-resolved.service"} }), nil, rootHost(), ErrInvalid, "--boot-hostnet-unmask requires --boot-hostnet"},
		{"guard without hostnet", instanceOpts(func(o *Options) { o.Boot = true; o.BootHostnetGuard = str("fail") }), nil, rootHost(), ErrInvalid, "--boot-hostnet-guard requires --boot-hostnet"},
		{"empty guard without hostnet", instanceOpts(func(o *Options) { o.Boot = true; o.BootHostnetGuard = str("") }), nil, rootHost(), ErrInvalid, "--boot-hostnet-guard requires --boot-hostnet"},
		{"bad guard mode", boot(func(o *Options) { o.BootHostnetGuard = str("loud") }), nil, rootHost(), ErrInvalid, `invalid host-network guard mode "loud"`},
		{"empty guard mode", boot(func(o *Options) { o.BootHostnetGuard = str("") }), nil, rootHost(), ErrInvalid, "--boot-hostnet-guard needs a value: off, warn or fail"},
		{"empty unmask", boot(func(o *Options) { o.BootHostnetUnmask = []string{""} }), nil, rootHost(), ErrInvalid, "--boot-hostnet-unmask needs a unit name, got an empty one"},
		{"empty item in an unmask list", boot(func(o *Options) {
			o.BootHostnetUnmask = []string{"chrony.service", "", "systemd-timesyncd.service"}
		}), nil, rootHost(), ErrInvalid, "--boot-hostnet-unmask needs a unit name, got an empty one"},
		{"blank unmask", boot(func(o *Options) { o.BootHostnetUnmask = []string{" "} }), nil, rootHost(), ErrInvalid, "--boot-hostnet-unmask needs a unit name, got an empty one"},
		{"empty unmask without hostnet", instanceOpts(func(o *Options) { o.Boot = true; o.BootHostnetUnmask = []string{""} }), nil, rootHost(), ErrInvalid, "--boot-hostnet-unmask requires --boot-hostnet"},
		{"booted instance name too long for the notify socket", instanceOpts(func(o *Options) { o.Boot = true; o.Hostname = "short"; o.InstanceName = strings.Repeat("n", 66) }), nil, rootHost(), ErrInvalid,
			"instance name too long (66 characters): at most 65 characters for a booted instance (the path of its notify socket, /run/apptainer/instances/root/NAME/host/notify, must fit in a Unix socket address (107 bytes))"},
		{"200 characters with --hostname short", instanceOpts(func(o *Options) {
			o.Boot = true
			o.BootHostnet = true
			o.Hostname = "short"
			o.InstanceName = strings.Repeat("n", 200)
		}), nil, rootHost(), ErrInvalid,
			"at most 65 characters for a booted instance"},
		{"instance name too long for its files", instanceOpts(func(o *Options) { o.InstanceName = strings.Repeat("n", 300) }), nil, rootHost(), ErrInvalid,
			"instance name too long (300 characters): at most 231 characters for an instance (file names made from it, such as .NAME.json.tmp-XXXXXXXXXXXXX, must fit in 255 bytes)"},
		{"unmask of a unit not masked", boot(func(o *Options) { o.BootHostnetUnmask = []string{"sshd.service"} }), nil, rootHost(), ErrInvalid, "sshd.service"},
		{"boot as non-root", instanceOpts(func(o *Options) { o.Boot = true }), nil, user, ErrPermission, "Could not configure --boot: --boot requires root privileges"},
		{"boot on exec", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Boot: true}, nil, rootHost(), ErrInvalid, "--boot is only available"},
		{"boot without /sbin/init", instanceOpts(func(o *Options) { o.Boot = true }), nil, func() Host { h := rootHost(); h.ImageHas = func(string) bool { return false }; return h }(), ErrInvalid, "--boot needs /sbin/init"},
		{"bad dns", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, DNS: "1.1.1.1,nope"}, nil, rootHost(), ErrInvalid, "dns ip nope is not a valid IP address"},
		{"bad bind", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Binds: []string{"/a:/b:/c:/d"}}, nil, rootHost(), ErrInvalid, "/a:/b:/c:/d"},
		{"relative image", Options{Action: ActionExec, Image: "img", Args: []string{"true"}}, nil, rootHost(), ErrInvalid, "must be absolute"},
		{"exec without command", Options{Action: ActionExec, Image: "/img"}, nil, rootHost(), ErrInvalid, "exec needs a command"},
		{"netns path as non-root, not listed", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, NetnsPath: "/run/netns/x"}, nil, user, ErrPermission, `"/run/netns/x" is not an allowed netns path in singularity.conf`},
		{"netns path as non-root, listed path but not user", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, NetnsPath: "/run/netns/x"}, func() *apptainerconf.File {
			c := apptainerconf.Default()
			c.AllowNetnsPaths = []string{"/run/netns/x"}
			return c
		}(), user, ErrPermission, "you are not permitted to join network namespaces in apptainer.conf"},
		{"bridge as non-root", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Net: true}, nil, user, ErrPermission, "network requires root"},
		{"keep-privs as non-root", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, KeepPrivs: true}, nil, user, ErrPermission, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := tt.conf
			if conf == nil {
				conf = apptainerconf.Default()
			}
			c, _, err := Build(tt.opts, conf, tt.host)
			if err == nil {
				t.Fatalf("Build succeeded (%v), want an error", nsSummary(c))
			}
			if !errors.Is(err, tt.class) {
				t.Errorf("error %q is not of class %v", err, tt.class)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestBootInstance(t *testing.T) {
	c, _, err := Build(instanceOpts(func(o *Options) { o.Boot = true; o.DropCaps = "CAP_CHOWN" }), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Hostname != "node1" {
		t.Errorf("hostname = %q, want the instance name", c.Spec.Hostname)
	}
	if !slices.Equal(c.Spec.Process.Args, []string{"/sbin/init"}) {
		t.Errorf("args = %v, want /sbin/init alone", c.Spec.Process.Args)
	}
	caps := c.Spec.Process.Capabilities.Bounding
	for _, dropped := range []string{"CAP_SYS_RAWIO", "CAP_CHOWN"} {
		if slices.Contains(caps, dropped) {
			t.Errorf("%s kept, want it dropped (user drops are kept on --boot)", dropped)
		}
	}
	// In its own PID namespace reboot(2) only ends the instance.
	if !slices.Contains(caps, "CAP_NET_ADMIN") || !slices.Contains(caps, "CAP_SYS_ADMIN") || !slices.Contains(caps, "CAP_SYS_BOOT") {
		t.Errorf("caps %v lack CAP_NET_ADMIN, CAP_SYS_ADMIN or CAP_SYS_BOOT", caps)
	}
	if !slices.Contains(c.Spec.Linux.Seccomp.Syscalls[0].Names, "kexec_load") {
		t.Errorf("the boot seccomp filter lets kexec_load through, with CAP_SYS_BOOT kept")
	}
	// Without one, reboot(2) would reboot the host: such a boot is
	// refused, and CAP_SYS_BOOT would go.
	noPID := apptainerconf.Default()
	noPID.AllowPidNs = false
	if _, _, err := Build(instanceOpts(func(o *Options) { o.Boot = true }), noPID, rootHost()); !errors.Is(err, ErrPermission) {
		t.Errorf("--boot with allow pid ns = no: %v, want a permission error", err)
	}
	shared, _, err := decideCaps(Options{Boot: true}, rootHost(), false, "full", false)
	if err != nil || slices.Contains(shared.Caps, "CAP_SYS_BOOT") || !slices.Contains(shared.Caps, "CAP_SYS_ADMIN") {
		t.Errorf("boot caps without a PID namespace of its own: %v (%v), want all but CAP_SYS_BOOT and CAP_SYS_RAWIO", shared.Caps, err)
	}
	if c.Rootfs != config.RootfsTmpfsOverlay || !c.Cgroup || c.Boot == nil || c.HostNet != nil {
		t.Errorf("rootfs %s cgroup %v boot %v hostnet %v", c.Rootfs, c.Cgroup, c.Boot, c.HostNet)
	}
	if c.Boot.StopSignal != 37 {
		t.Errorf("stop signal %d, want SIGRTMIN+3 (37)", c.Boot.StopSignal)
	}
	env := strings.Join(c.Spec.Process.Env, " ")
	for _, want := range []string{"container=apptainer", "container_uuid=" + c.Boot.ContainerUUID, "NOTIFY_SOCKET=/run/host/notify"} {
		if !strings.Contains(env, want) {
			t.Errorf("init env %q lacks %q", env, want)
		}
	}
	if strings.Contains(env, "FOO=bar") {
		t.Errorf("init env %q carries the caller's environment", env)
	}
	again, _, _ := Build(instanceOpts(func(o *Options) { o.Boot = true }), apptainerconf.Default(), rootHost())
	other, _, _ := Build(instanceOpts(func(o *Options) { o.Boot = true; o.InstanceName = "node2" }), apptainerconf.Default(), rootHost())
	if again.Boot.ContainerUUID != c.Boot.ContainerUUID || other.Boot.ContainerUUID == c.Boot.ContainerUUID {
		t.Errorf("container_uuid not stable per name: %s %s %s", c.Boot.ContainerUUID, again.Boot.ContainerUUID, other.Boot.ContainerUUID)
	}
	if !slices.Contains(c.Spec.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("read-only paths %v lack /proc/sys", c.Spec.Linux.ReadonlyPaths)
	}
	assertMount(t, c, "/sys", "sysfs", true)
	assertMount(t, c, "/sys/fs/cgroup", "cgroup2", false)
	assertMount(t, c, "/run", "tmpfs", false)
	assertMount(t, c, "/dev/console", "bind", false)
	// Its own network namespace: a generated /etc/hosts, not the host's.
	if m := findMount(c, "/etc/hosts"); m == nil || m.Source != config.SessionSource+"hosts" {
		t.Errorf("/etc/hosts mount = %+v, want the generated file", m)
	}
	// resolv.conf: a private copy, writable (the instance has its own network).
	assertMount(t, c, "/etc/resolv.conf", "bind", false)
}

func TestBootHostnetSafeguards(t *testing.T) {
	conf := apptainerconf.Default()
	conf.BootHostnetMaskUnits = []string{"site-net.service"}
	c, _, err := Build(instanceOpts(func(o *Options) {
		o.Boot, o.BootHostnet = true, true
		o.BootHostnetUnmask = []string{"systemd-timesyncd.service"}
	}), conf, rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if c.Network != nil {
		t.Errorf("network = %+v, want none on the host network", c.Network)
	}
	if c.HostNet == nil {
		t.Fatal("HostNet not set")
	}
	masks := c.HostNet.MaskedUnits
	for _, u := range []string{"systemd-networkd.service", "systemd-resolved.service", "networking.service", "site-net.service"} {
		if !slices.Contains(masks, u) || !slices.Contains(c.Spec.Process.Args, "systemd.mask="+u) {
			t.Errorf("%s not masked (masks %v, args %v)", u, masks, c.Spec.Process.Args)
		}
	}
	if slices.Contains(masks, "systemd-timesyncd.service") {
		t.Errorf("unmasked unit still in %v", masks)
	}
	// The list is written out, not taken from hostnet: emptied or cut
	// there, the drops would shrink and a loop over it would still pass.
	wantDropped := []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_MODULE", "CAP_SYS_TIME"}
	caps := c.Spec.Process.Capabilities
	if len(caps.Bounding) == 0 {
		t.Fatal("empty bounding set: the caps check below would prove nothing")
	}
	for _, dropped := range wantDropped {
		for _, set := range [][]string{caps.Bounding, caps.Effective, caps.Permitted, caps.Inheritable, caps.Ambient} {
			if slices.Contains(set, dropped) {
				t.Errorf("%s kept in a capability set", dropped)
			}
		}
	}
	if !slices.Contains(caps.Bounding, "CAP_SYS_ADMIN") {
		t.Errorf("CAP_SYS_ADMIN, which systemd needs and is not dropped, is missing: %v", caps.Bounding)
	}
	if !slices.Equal(c.HostNet.DroppedCaps, wantDropped) {
		t.Errorf("recorded drops %v, want %v", c.HostNet.DroppedCaps, wantDropped)
	}
	if c.HostNet.Guard != config.GuardWarn {
		t.Errorf("guard = %s, want warn by default", c.HostNet.Guard)
	}
	if c.Spec.Hostname != "node1" || !hasNS(c.Spec.Linux.Namespaces, specs.UTSNamespace) {
		t.Errorf("the UTS namespace and hostname must stay: %q %v", c.Spec.Hostname, nsSummary(c))
	}
	assertMount(t, c, "/sys", "sysfs", true)
	assertMount(t, c, "/etc/resolv.conf", "bind", true)
	copies := 0
	for _, f := range c.Files {
		if f.Name == "resolv.conf" {
			copies++
			if string(f.Content) != "nameserver 10.0.0.53\n" {
				t.Errorf("resolv.conf copy = %q", f.Content)
			}
		}
	}
	if copies != 1 {
		t.Errorf("%d private copies of resolv.conf, want 1", copies)
	}
	// The host network: /etc/hosts is the host's file.
	if m := findMount(c, "/etc/hosts"); m == nil || m.Source != "/etc/hosts" {
		t.Errorf("/etc/hosts mount = %+v, want the host's", m)
	}
}

func TestBootHostnetUserNamespace(t *testing.T) {
	c, _, err := Build(instanceOpts(func(o *Options) { o.Boot, o.BootHostnet = true, true }), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if c.UserNS == nil || c.UserNS.Size != IDMapSize || c.UserNS.HostID != 0 {
		t.Errorf("user namespace = %+v, want a request for %d ids (the monitor allocates them)", c.UserNS, IDMapSize)
	}
	conf := apptainerconf.Default()
	conf.BootHostnetUserns = apptainerconf.UsernsNo
	c, _, err = Build(instanceOpts(func(o *Options) { o.Boot, o.BootHostnet = true, true }), conf, rootHost())
	if err != nil {
		t.Fatal(err)
	}
	// Without a user namespace too, an IPC namespace of its own: the
	// host's shared memory stays the host's.
	if c.UserNS != nil || nsSummary(c) != "mount,uts,pid,ipc" {
		t.Errorf("boot hostnet userns = no: userns %+v, namespaces %s", c.UserNS, nsSummary(c))
	}
	c, _, _ = Build(instanceOpts(func(o *Options) { o.Boot = true }), apptainerconf.Default(), rootHost())
	if c.UserNS != nil {
		t.Error("plain --boot got a user namespace")
	}
	off, on := false, true
	tests := []struct {
		mode    string
		flag    *bool
		want    bool
		wantErr string
	}{
		{apptainerconf.UsernsYes, nil, true, ""},
		{apptainerconf.UsernsYes, &on, true, ""},
		{apptainerconf.UsernsYes, &off, false, "--boot-hostnet-userns=false is not allowed"},
		{apptainerconf.UsernsOptional, nil, true, ""},
		{apptainerconf.UsernsOptional, &off, false, ""},
		{apptainerconf.UsernsNo, nil, false, ""},
		{apptainerconf.UsernsNo, &on, false, "boot hostnet userns = no"},
	}
	for _, tt := range tests {
		conf := apptainerconf.Default()
		conf.BootHostnetUserns = tt.mode
		c, _, err := Build(instanceOpts(func(o *Options) { o.Boot, o.BootHostnet, o.BootHostnetUserns = true, true, tt.flag }), conf, rootHost())
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s/%v: error %v, want %q", tt.mode, tt.flag, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s/%v: %v", tt.mode, tt.flag, err)
		case (c.UserNS != nil) != tt.want:
			t.Errorf("%s/%v: user namespace %v, want %v", tt.mode, tt.flag, c.UserNS != nil, tt.want)
		}
	}
	if _, _, err := Build(instanceOpts(func(o *Options) { o.Boot, o.BootHostnetUserns = true, &off }), apptainerconf.Default(), rootHost()); err == nil {
		t.Error("--boot-hostnet-userns accepted without --boot-hostnet")
	}
}

func TestBootHostnetCapabilityOverrides(t *testing.T) {
	c, _, err := Build(instanceOpts(func(o *Options) { o.Boot, o.BootHostnet, o.AddCaps = true, true, "CAP_NET_RAW" }), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	caps := c.Spec.Process.Capabilities.Bounding
	if !slices.Contains(caps, "CAP_NET_RAW") || slices.Contains(caps, "CAP_NET_ADMIN") {
		t.Errorf("--add-caps CAP_NET_RAW: caps %v", caps)
	}
	c, _, err = Build(instanceOpts(func(o *Options) { o.Boot, o.BootHostnet, o.KeepPrivs = true, true, true }), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	caps = c.Spec.Process.Capabilities.Bounding
	for _, kept := range []string{"CAP_NET_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_TIME"} {
		if !slices.Contains(caps, kept) {
			t.Errorf("--keep-privs: %s dropped", kept)
		}
	}
	if len(c.HostNet.DroppedCaps) != 0 {
		t.Errorf("--keep-privs: recorded drops %v", c.HostNet.DroppedCaps)
	}
}

func TestCapsLimitedToHeld(t *testing.T) {
	h := rootHost()
	h.HeldCaps = []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}
	c, _, err := Build(Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, KeepPrivs: true}, apptainerconf.Default(), h)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Spec.Process.Capabilities.Bounding; !slices.Equal(got, []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}) {
		t.Errorf("caps = %v, want only the held ones", got)
	}
	c, _, _ = Build(Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, NoPrivs: true}, apptainerconf.Default(), rootHost())
	if len(c.Spec.Process.Capabilities.Bounding) != 0 || !c.NoNewPrivileges {
		t.Errorf("--no-privs: caps %v nnp %v", c.Spec.Process.Capabilities.Bounding, c.NoNewPrivileges)
	}
	if full, _ := capabilities.RootDefault("full", ""); len(full) == 0 {
		t.Fatal("no known capabilities")
	}
}

func TestEnvironment(t *testing.T) {
	c, _, err := Build(Options{Action: ActionExec, Image: "/img/debian", Args: []string{"env"}, Env: map[string]string{"X": "1"}}, apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	env := c.Spec.Process.Env
	for _, want := range []string{"FOO=bar", "TERM=xterm", "INJECTED=yes", "X=1", "APPTAINER_CONTAINER=/img/debian", "APPTAINER_NAME=debian", "HOME=/root", "PATH=" + config.DefaultPath} {
		if !slices.Contains(env, want) {
			t.Errorf("env %v lacks %s", env, want)
		}
	}
	if slices.ContainsFunc(env, func(s string) bool {
		return strings.HasPrefix(s, "APPTAINER_BIND=") || strings.HasPrefix(s, "APPTAINERENV_")
	}) {
		t.Errorf("env %v forwards the runtime's own variables", env)
	}
	c, _, _ = Build(Options{Action: ActionExec, Image: "/img/debian", Args: []string{"env"}, CleanEnv: true}, apptainerconf.Default(), rootHost())
	if slices.Contains(c.Spec.Process.Env, "FOO=bar") || !slices.Contains(c.Spec.Process.Env, "TERM=xterm") || !slices.Contains(c.Spec.Process.Env, "LANG=C") {
		t.Errorf("--cleanenv env %v", c.Spec.Process.Env)
	}
}

func TestConfNamespaces(t *testing.T) {
	conf := apptainerconf.Default()
	conf.AllowUtsNs = false
	_, msgs, err := Build(Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Hostname: "h"}, conf, rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(msgs, func(m Message) bool { return m.Text == "Container hostname cannot be set." }) {
		t.Errorf("messages %v", msgs)
	}
}

// TestRootCapsFromFile: with "root default capabilities = file" root gets
// what Host.RootFileCaps reports (the CLI reads capability.json); its error
// stops the launch; nil grants nothing. The launcher reads no file itself.
func TestRootCapsFromFile(t *testing.T) {
	conf := apptainerconf.Default()
	conf.RootDefaultCapabilities = "file"
	opts := Options{Action: ActionExec, Image: "/img", Args: []string{"true"}}
	h := rootHost()
	h.RootFileCaps = func() ([]string, error) { return []string{"CAP_CHOWN", "CAP_KILL"}, nil }
	c, _, err := Build(opts, conf, h)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Spec.Process.Capabilities.Bounding; !slices.Equal(got, []string{"CAP_CHOWN", "CAP_KILL"}) {
		t.Errorf("bounding set %v, want the file's CAP_CHOWN, CAP_KILL", got)
	}
	h.RootFileCaps = func() ([]string, error) { return nil, errors.New("bad capability.json") }
	if _, _, err := Build(opts, conf, h); err == nil || !strings.Contains(err.Error(), "bad capability.json") {
		t.Errorf("a capability file error gave %v", err)
	}
	h.RootFileCaps = nil
	if c, _, err = Build(opts, conf, h); err != nil || len(c.Spec.Process.Capabilities.Bounding) != 0 {
		t.Errorf("no capability file: %v, %+v", err, c.Spec.Process.Capabilities)
	}
}

// TestConfMountHomeTmp: "mount home = no" and "mount tmp = no" leave the
// image's own home, /tmp and /var/tmp, contained or not; --home still
// mounts. With the defaults all three are mounted.
func TestConfMountHomeTmp(t *testing.T) {
	for _, contain := range []bool{false, true} {
		opts := Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Contain: contain}
		c, _, err := Build(opts, apptainerconf.Default(), rootHost())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"/tmp", "/var/tmp", "/root"} {
			if findMount(c, d) == nil {
				t.Errorf("contain=%v, defaults: nothing mounted at %s", contain, d)
			}
		}
		conf := apptainerconf.Default()
		conf.MountHome, conf.MountTmp = false, false
		if c, _, err = Build(opts, conf, rootHost()); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"/tmp", "/var/tmp", "/root"} {
			if m := findMount(c, d); m != nil {
				t.Errorf("contain=%v, mount home/tmp = no: %s is mounted (%+v)", contain, d, *m)
			}
		}
		opts.Home = "/srv/h:/root"
		if c, _, err = Build(opts, conf, rootHost()); err != nil {
			t.Fatal(err)
		}
		if m := findMount(c, "/root"); m == nil || m.Source != "/srv/h" {
			t.Errorf("contain=%v, mount home = no with --home: /root is %+v", contain, m)
		}
	}
}

// TestBindsIdmappedOnlyReadOnly: in the user-namespace mode a read-only
// bind is idmapped (host owners show inside), a read-write one never is:
// through an idmap, a file root inside creates would be host root's.
func TestBindsIdmappedOnlyReadOnly(t *testing.T) {
	c, _, err := Build(instanceOpts(func(o *Options) {
		o.Boot, o.BootHostnet = true, true
		o.Binds = []string{"/srv/ro:/ro:ro", "/srv/rw:/rw", "/srv/rw2:/rw2:rw"}
	}), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	for dest, wantIdmap := range map[string]bool{"/ro": true, "/rw": false, "/rw2": false} {
		m := findMount(c, dest)
		if m == nil {
			t.Errorf("no mount at %s", dest)
			continue
		}
		if got := slices.Contains(m.Options, "idmap"); got != wantIdmap {
			t.Errorf("bind at %s: options %v, idmap %v, want %v", dest, m.Options, got, wantIdmap)
		}
		if !slices.Contains(m.Options, "nosuid") || !slices.Contains(m.Options, "nodev") {
			t.Errorf("bind at %s: options %v lack nosuid,nodev", dest, m.Options)
		}
	}
}

func findMount(c *config.Config, dest string) *specs.Mount {
	var found *specs.Mount
	for i := range c.Spec.Mounts {
		if c.Spec.Mounts[i].Destination == dest {
			found = &c.Spec.Mounts[i]
		}
	}
	return found
}

func assertMount(t *testing.T, c *config.Config, dest, typ string, readOnly bool) {
	t.Helper()
	m := findMount(c, dest)
	if m == nil {
		t.Errorf("no mount at %s", dest)
		return
	}
	if m.Type != typ || slices.Contains(m.Options, "ro") != readOnly {
		t.Errorf("mount %s = %+v, want type %s read-only %v", dest, m, typ, readOnly)
	}
}

// TestBootConfinement: a booted instance, with or without the host
// network or a user namespace, gets the seccomp filter, the device policy
// and the masked /proc paths; a plain instance gets none of them.
func TestBootConfinement(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts func(*Options)
		boot bool
	}{
		{"plain instance", func(o *Options) {}, false},
		{"--boot", func(o *Options) { o.Boot = true }, true},
		{"--boot --boot-hostnet", func(o *Options) { o.Boot, o.BootHostnet = true, true }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Build(instanceOpts(tt.opts), apptainerconf.Default(), rootHost())
			if err != nil {
				t.Fatal(err)
			}
			l := c.Spec.Linux
			if !tt.boot {
				if l.Seccomp != nil || len(l.MaskedPaths) > 0 || l.Resources != nil {
					t.Errorf("a plain instance is confined: %+v %v %+v", l.Seccomp, l.MaskedPaths, l.Resources)
				}
				return
			}
			if l.Seccomp == nil || l.Seccomp.DefaultAction != specs.ActAllow || len(l.Seccomp.Syscalls) != 1 {
				t.Fatalf("seccomp = %+v", l.Seccomp)
			}
			rule := l.Seccomp.Syscalls[0]
			if rule.Action != specs.ActErrno || rule.ErrnoRet == nil || *rule.ErrnoRet != 1 {
				t.Errorf("denied syscalls do not fail with EPERM: %+v", rule)
			}
			for _, name := range []string{"keyctl", "add_key", "request_key", "open_by_handle_at", "init_module", "finit_module", "kexec_load", "swapon", "clock_settime", "perf_event_open"} {
				if !slices.Contains(rule.Names, name) {
					t.Errorf("%s is not denied", name)
				}
			}
			for _, name := range []string{"mount", "bpf", "name_to_handle_at", "reboot", "unshare", "clone3"} {
				if slices.Contains(rule.Names, name) {
					t.Errorf("%s, which systemd needs, is denied", name)
				}
			}
			for _, p := range []string{"/proc/kcore", "/proc/kallsyms", "/proc/keys", "/proc/sys/fs/binfmt_misc", "/proc/sysrq-trigger"} {
				if !slices.Contains(l.MaskedPaths, p) {
					t.Errorf("%s is not masked", p)
				}
			}
			if l.Resources == nil || len(l.Resources.Devices) < 2 {
				t.Fatalf("device policy = %+v", l.Resources)
			}
			first := l.Resources.Devices[0]
			if first.Allow || first.Type != "" || first.Major != nil || first.Access != "rwm" {
				t.Errorf("the policy does not start by denying every device: %+v", first)
			}
			for _, d := range l.Resources.Devices[1:] {
				if !d.Allow || d.Type != "c" || d.Major == nil {
					t.Errorf("rule %+v allows more than a character device", d)
				}
				if *d.Major == 8 || *d.Major == 259 || *d.Major == 7 {
					t.Errorf("rule %+v allows a disk or a loop device", d)
				}
			}
		})
	}
}
