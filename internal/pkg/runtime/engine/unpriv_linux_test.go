package engine

import (
	"slices"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
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
