package launcher

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func userHost() Host {
	h := rootHost()
	h.UID, h.GID, h.User, h.HomeDir, h.ConfigDir = 1000, 1000, "alice", "/home/alice", "/home/alice/.apptainer"
	h.GIDs, h.Groups = []int{1000}, []string{"alice"}
	return h
}

// userExec is an exec of id by the user, changed by mod.
func userExec(mod func(*Options)) Options {
	return execOpts(func(o *Options) {
		o.Args = []string{"id"}
		if mod != nil {
			mod(o)
		}
	})
}

// mountAt is the last spec mount at dest, or nil.
func mountAt(mounts []specs.Mount, dest string) *specs.Mount {
	var found *specs.Mount
	for i := range mounts {
		if mounts[i].Destination == dest {
			found = &mounts[i]
		}
	}
	return found
}

func TestUnprivilegedAccepted(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		wantNS string
		// check looks at the config beyond the namespaces.
		check func(t *testing.T, mounts []specs.Mount, devices []specs.LinuxDevice)
	}{
		{"exec: the host's /proc, /sys and /dev, bound", userExec(nil), "mount", func(t *testing.T, m []specs.Mount, _ []specs.LinuxDevice) {
			for _, dest := range []string{"/proc", "/sys", "/dev"} {
				got := mountAt(m, dest)
				if got == nil || got.Type != "bind" || got.Source != dest {
					t.Errorf("%s: got %+v, want a bind of the host's", dest, got)
				}
			}
			if home := mountAt(m, "/home/alice"); home == nil || home.Source != "/home/alice" {
				t.Errorf("home: got %+v, want the user's home bound at /home/alice", home)
			}
			if tmp := mountAt(m, "/tmp"); tmp == nil || tmp.Source != "/tmp" {
				t.Errorf("/tmp: got %+v, want the host's", tmp)
			}
		}},
		{"--pid: proc of its own PID namespace", userExec(func(o *Options) { o.PID = true }), "mount,pid", func(t *testing.T, m []specs.Mount, _ []specs.LinuxDevice) {
			if p := mountAt(m, "/proc"); p == nil || p.Type != "proc" {
				t.Errorf("/proc: got %+v, want a new proc", p)
			}
		}},
		{"--containall: minimal /dev, devpts without the unmapped tty group", userExec(func(o *Options) { o.ContainAll = true }), "mount,pid,ipc", func(t *testing.T, m []specs.Mount, d []specs.LinuxDevice) {
			pts := mountAt(m, "/dev/pts")
			if pts == nil || pts.Type != "devpts" {
				t.Fatalf("/dev/pts: got %+v, want a devpts", pts)
			}
			if slices.ContainsFunc(pts.Options, func(o string) bool { return strings.HasPrefix(o, "gid=") }) {
				t.Errorf("devpts options %v name a group the user namespace does not map", pts.Options)
			}
			if len(d) == 0 {
				t.Error("no device nodes planned for the minimal /dev")
			}
			if mq := mountAt(m, "/dev/mqueue"); mq == nil || mq.Type != "mqueue" {
				t.Errorf("/dev/mqueue: got %+v, want the IPC namespace's mqueue", mq)
			}
		}},
		{"--hostname: a UTS namespace", userExec(func(o *Options) { o.Hostname = "box" }), "mount,uts", nil},
		{"run", Options{Action: ActionRun, Image: "/img"}, "mount", nil},
		{"shell", Options{Action: ActionShell, Image: "/img"}, "mount", nil},
		{"--writable-tmpfs", userExec(func(o *Options) { o.WritableTmpfs = true }), "mount", nil},
		{"--bind of a directory", userExec(func(o *Options) { o.Binds = []string{"/data:/data:ro"} }), "mount", func(t *testing.T, m []specs.Mount, _ []specs.LinuxDevice) {
			if b := mountAt(m, "/data"); b == nil || b.Source != "/data" || !slices.Contains(b.Options, "ro") {
				t.Errorf("/data: got %+v, want a read-only bind", b)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Build(tt.opts, apptainerconf.Default(), userHost())
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !c.Unprivileged {
				t.Error("config not marked unprivileged")
			}
			if got := nsSummary(c); got != tt.wantNS {
				t.Errorf("namespaces = %q, want %q", got, tt.wantNS)
			}
			if u := c.Spec.Process.User; u.UID != 1000 || u.GID != 1000 {
				t.Errorf("process user = %d:%d, want 1000:1000", u.UID, u.GID)
			}
			if caps := c.Spec.Process.Capabilities; caps != nil && len(caps.Bounding)+len(caps.Effective)+len(caps.Ambient) > 0 {
				t.Errorf("capabilities %+v, want none", caps)
			}
			if !c.NoNewPrivileges {
				t.Error("no_new_privs not set")
			}
			for _, m := range c.Spec.Mounts {
				if m.Type == "sysfs" || m.Type == "cgroup2" {
					t.Errorf("mount %+v: a user namespace may not mount it", m)
				}
			}
			if tt.check != nil {
				tt.check(t, c.Spec.Mounts, c.Spec.Linux.Devices)
			}
		})
	}
}

func TestUnprivilegedRootKeepsItsPaths(t *testing.T) {
	c, _, err := Build(userExec(func(o *Options) { o.ContainAll = true }), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if c.Unprivileged {
		t.Error("root's config marked unprivileged")
	}
	if s := mountAt(c.Spec.Mounts, "/sys"); s == nil || s.Type != "sysfs" {
		t.Errorf("root's /sys: got %+v, want sysfs", s)
	}
	if pts := mountAt(c.Spec.Mounts, "/dev/pts"); pts == nil || !slices.Contains(pts.Options, "gid=5") {
		t.Errorf("root's devpts: got %+v, want gid=5", pts)
	}
}

func TestUnprivilegedRefusals(t *testing.T) {
	allowNet := apptainerconf.Default()
	allowNet.AllowNetUsers = []string{"alice"}
	allowNet.AllowNetNetworks = []string{"bridge"}
	tests := []struct {
		name string
		opts Options
		conf *apptainerconf.File
		want string
	}{
		{"--boot: upstream's message", instanceOpts(func(o *Options) { o.Boot = true }), nil, "Could not configure --boot: --boot requires root privileges"},
		{"--keep-privs: upstream's message", userExec(func(o *Options) { o.KeepPrivs = true }), nil, "--keep-privs requires root privileges"},
		{"--net: upstream's message", userExec(func(o *Options) { o.Net = true }), nil, "network requires root or a suid installation"},
		{"--net allowed by apptainer.conf: still root only here", userExec(func(o *Options) { o.Net = true }), allowNet, "network namespaces need root in this build"},
		{"--overlay", userExec(func(o *Options) { o.Overlay = []string{"/ov"} }), nil, "--overlay needs root in this build"},
		{"--add-caps", userExec(func(o *Options) { o.AddCaps = "CAP_NET_RAW" }), nil, "--add-caps requires root privileges"},
		{"image bind", userExec(func(o *Options) { o.Binds = []string{"/data.img:/data:image-src=/"} }), nil, "binding from an image file (/data.img) needs root"},
		{"user namespaces off in apptainer.conf", userExec(nil), noUserNS(), "Unprivileged installation found, user namespace needed but not allowed by configuration."},
		{"--userns, user namespaces off", userExec(func(o *Options) { o.UserNS = true }), noUserNS(), "User namespace required but not allowed by configuration."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := tt.conf
			if conf == nil {
				conf = apptainerconf.Default()
			}
			_, _, err := Build(tt.opts, conf, userHost())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build: err %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrPermission) && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v has no class", err)
			}
		})
	}
	// Positive control: the same user, the same image, nothing root only.
	if _, _, err := Build(userExec(nil), apptainerconf.Default(), userHost()); err != nil {
		t.Fatalf("plain exec refused: %v", err)
	}
}

func noUserNS() *apptainerconf.File {
	c := apptainerconf.Default()
	c.AllowUserNs = false
	return c
}

// TestUserInstances: an ordinary user's instances (and root's with
// --userns or --fakeroot) are built like their exec, in a user namespace
// of their own; a user's keeps its runtime directory in the user's
// configuration directory, root's below the run root.
func TestUserInstances(t *testing.T) {
	user := withSubIDs(userHost(), nil, nil)
	root := withSubIDs(rootHost(), nil, nil)
	for _, tc := range []struct {
		name         string
		opts         Options
		host         Host
		runDir       string
		unprivileged bool
		uid          uint32
	}{
		{"user instance start", instanceOpts(nil), user, "/home/alice/.apptainer/instances/run/node7/node1", true, 1000},
		{"user instance run", instanceOpts(func(o *Options) { o.Action = ActionInstanceRun }), user, "/home/alice/.apptainer/instances/run/node7/node1", true, 1000},
		{"user --fakeroot instance", instanceOpts(func(o *Options) { o.Fakeroot = true }), user, "/home/alice/.apptainer/instances/run/node7/node1", true, 0},
		{"user --sharens", userExec(func(o *Options) { o.ShareNS = true; o.InstanceName = "x" }), user, "/home/alice/.apptainer/instances/run/node7/x", true, 1000},
		{"root --fakeroot instance", instanceOpts(func(o *Options) { o.Fakeroot = true }), root, "", true, 0},
		{"root --userns instance", instanceOpts(func(o *Options) { o.UserNS = true }), root, "", true, 0},
		{"root instance (control)", instanceOpts(nil), root, "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Build(tc.opts, apptainerconf.Default(), tc.host)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if c.Instance == nil {
				t.Fatal("no instance in the config")
			}
			if c.Instance.RunDir != tc.runDir {
				t.Errorf("run directory %q, want %q", c.Instance.RunDir, tc.runDir)
			}
			if c.Unprivileged != tc.unprivileged {
				t.Errorf("Unprivileged = %v, want %v", c.Unprivileged, tc.unprivileged)
			}
			if got := c.Spec.Process.User.UID; got != tc.uid {
				t.Errorf("container uid %d, want %d", got, tc.uid)
			}
			if !hasNS(c.Spec.Linux.Namespaces, specs.PIDNamespace) {
				t.Error("an instance without a PID namespace")
			}
		})
	}
}

// TestRootlessBoot: an ordinary user boots with --fakeroot, in a network
// namespace with loopback only, or on the host network where
// apptainer.conf lists the user or a group of the user's.
func TestRootlessBoot(t *testing.T) {
	user := withSubIDs(userHost(), nil, nil)
	listed := func(users ...string) *apptainerconf.File {
		var groups []string
		if len(users) > 1 {
			users, groups = users[:1], users[1:]
		}
		c := apptainerconf.Default()
		c.AllowBootHostnetUsers, c.AllowBootHostnetGroups = users, groups
		return c
	}
	boot := func(mod func(*Options)) Options {
		return instanceOpts(func(o *Options) {
			o.Boot, o.Fakeroot = true, true
			if mod != nil {
				mod(o)
			}
		})
	}
	hostnet := func(o *Options) { o.BootHostnet = true }
	for _, tc := range []struct {
		name    string
		opts    Options
		conf    *apptainerconf.File
		hostnet bool
	}{
		{"--boot --fakeroot: loopback only", boot(nil), apptainerconf.Default(), false},
		{"--boot-hostnet, listed by name", boot(hostnet), listed("alice"), true},
		{"--boot-hostnet, listed by uid", boot(hostnet), listed("1000"), true},
		{"--boot-hostnet, listed by group", boot(hostnet), listed("", "alice"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Build(tc.opts, tc.conf, user)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !c.Unprivileged || c.UserNS != nil || c.Spec.Process.User.UID != 0 || c.Boot == nil {
				t.Errorf("Unprivileged %v, runtime id range %v, uid %d, boot %v: want the user's own root-mapped namespace booting init",
					c.Unprivileged, c.UserNS, c.Spec.Process.User.UID, c.Boot)
			}
			if got := newNetNamespace(c.Spec.Linux.Namespaces); got == tc.hostnet {
				t.Errorf("new network namespace: %v, want %v", got, !tc.hostnet)
			}
			if tc.hostnet {
				if c.HostNet == nil || c.Network != nil {
					t.Fatalf("host network: safeguards %v, CNI %v", c.HostNet, c.Network)
				}
				if caps := c.Spec.Process.Capabilities.Bounding; slices.Contains(caps, "CAP_NET_ADMIN") || slices.Contains(caps, "CAP_NET_RAW") {
					t.Errorf("a host-network instance keeps network capabilities: %v", caps)
				}
				return
			}
			if c.Network == nil || !slices.Equal(c.Network.Networks, []string{"none"}) {
				t.Errorf("networks %v, want [none]: CNI needs root", c.Network)
			}
		})
	}
	for _, tc := range []struct {
		name string
		opts Options
		conf *apptainerconf.File
		want string
	}{
		{"--boot without --fakeroot", instanceOpts(func(o *Options) { o.Boot = true }), apptainerconf.Default(), "an ordinary user boots with --fakeroot"},
		{"--boot-hostnet, not listed (the default)", boot(hostnet), apptainerconf.Default(), "user alice is not allowed to boot instances on the host network"},
		{"--boot-hostnet, another user listed", boot(hostnet), listed("bob", "ops"), "user alice is not allowed"},
		{"--boot-hostnet, listed, without --fakeroot", instanceOpts(func(o *Options) { o.Boot, o.BootHostnet = true, true }), listed("alice"), "an ordinary user boots with --fakeroot"},
		{"--boot-hostnet, listed, but allow boot hostnet = no", boot(hostnet), func() *apptainerconf.File { c := listed("alice"); c.AllowBootHostnet = false; return c }(), "disabled by the administrator"},
		{"--boot-hostnet-userns=false", boot(func(o *Options) { o.BootHostnet = true; f := false; o.BootHostnetUserns = &f }), listed("alice"), "always runs in the user's own user namespace"},
		{"--boot --fakeroot --net", boot(func(o *Options) { o.Net = true }), apptainerconf.Default(), "the fakeroot CNI network needs a setuid installation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Build(tc.opts, tc.conf, user)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: err %v, want %q", err, tc.want)
			}
		})
	}
}
