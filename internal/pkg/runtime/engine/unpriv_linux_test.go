package engine

import (
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestMountParents(t *testing.T) {
	cfg := &config.Config{Spec: specs.Spec{
		Mounts: []specs.Mount{{Destination: "/proc"}, {Destination: "/home/alice"}, {Destination: "/etc/hosts"}, {Destination: "/etc/resolv.conf"}, {Destination: "/a/b/c/d"}},
		Linux:  &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/null"}}},
	}, Symlinks: []config.Symlink{{Path: "/dev/fd"}}}
	got := mountParents(cfg)
	want := []string{"/home", "/etc", "/dev", "/a/b/c"}
	if !slices.Equal(got, want) {
		t.Errorf("mountParents = %q, want %q (each once, shallowest first, / left out)", got, want)
	}
}

func TestUnprivilegedIDMaps(t *testing.T) {
	uids, gids := unprivilegedIDMaps(1000, 1001)
	if len(uids) != 1 || uids[0].ContainerID != 1000 || uids[0].HostID != 1000 || uids[0].Size != 1 {
		t.Errorf("uid map %+v, want only 1000 to itself", uids)
	}
	if len(gids) != 1 || gids[0].ContainerID != 1001 || gids[0].HostID != 1001 || gids[0].Size != 1 {
		t.Errorf("gid map %+v, want only 1001 to itself", gids)
	}
}

func TestIDMapArgs(t *testing.T) {
	maps := []config.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	if got, want := strings.Join(idMapArgs(4242, maps), " "), "4242 0 1000 1 1 100000 65536"; got != want {
		t.Errorf("idMapArgs = %q, want %q", got, want)
	}
	sys := sysIDMaps(maps)
	if len(sys) != 2 || sys[1] != (syscall.SysProcIDMap{ContainerID: 1, HostID: 100000, Size: 65536}) {
		t.Errorf("sysIDMaps = %+v", sys)
	}
}

// TestUnprivilegedAttrMaps: the user's own ids by default, cfg's maps when
// set, and none when newuidmap writes them.
func TestUnprivilegedAttrMaps(t *testing.T) {
	base := func() *config.Config {
		c := &config.Config{Unprivileged: true}
		c.Spec.Process = &specs.Process{User: specs.User{UID: 1000, GID: 1001}}
		return c
	}
	var attr syscall.SysProcAttr
	unprivilegedAttr(&attr, base())
	if len(attr.UidMappings) != 1 || attr.UidMappings[0].HostID != 1000 || attr.GidMappings[0].HostID != 1001 || attr.Cloneflags&unix.CLONE_NEWUSER == 0 {
		t.Errorf("default maps %+v %+v", attr.UidMappings, attr.GidMappings)
	}
	c := base()
	c.UIDMap = []config.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}}
	c.GIDMap = []config.IDMap{{ContainerID: 0, HostID: 1001, Size: 1}}
	attr = syscall.SysProcAttr{}
	unprivilegedAttr(&attr, c)
	if len(attr.UidMappings) != 1 || attr.UidMappings[0].ContainerID != 0 || attr.GidMappings[0].HostID != 1001 {
		t.Errorf("root-mapped maps %+v %+v", attr.UidMappings, attr.GidMappings)
	}
	// The namespace's root hands capabilities on: the stage holds all;
	// the user's own stage only what it needs.
	if slices.Contains(attr.AmbientCaps, unix.CAP_KILL) {
		t.Errorf("the user's stage holds CAP_KILL: %v", attr.AmbientCaps)
	}
	c.Spec.Process.User = specs.User{UID: 0, GID: 0}
	attr = syscall.SysProcAttr{}
	unprivilegedAttr(&attr, c)
	if !slices.Contains(attr.AmbientCaps, unix.CAP_KILL) || !slices.Contains(attr.AmbientCaps, unix.CAP_SYS_ADMIN) {
		t.Errorf("the namespace root's stage lacks capabilities: %v", attr.AmbientCaps)
	}
	c.MapHelpers = true
	attr = syscall.SysProcAttr{}
	unprivilegedAttr(&attr, c)
	if attr.UidMappings != nil || attr.GidMappings != nil || attr.Cloneflags&unix.CLONE_NEWUSER == 0 || len(attr.AmbientCaps) == 0 {
		t.Errorf("helper-written maps set by the clone: %+v", attr)
	}
}
