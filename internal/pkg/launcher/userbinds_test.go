package launcher

import (
	"reflect"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/bind"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

// TestPlanUserBinds: user binds go shallowest first, in the user's order
// at equal depth, and an image bind names its entry in ImageBinds.
func TestPlanUserBinds(t *testing.T) {
	var p mountPlan
	planUserBinds(&p, []bind.Spec{
		{Source: "/img.sif", Destination: "/scratch/bin", ImageSrc: "/", ID: 0},
		{Source: "/scratch", Destination: "/scratch"},
		{Source: "/e.img", Destination: "/data", ImageSrc: "/sub", ReadOnly: true},
		{Source: "/x.sif", Destination: "/a/b/c", ImageSrc: "/", ID: 4},
		{Source: "/ro", Destination: "/datb", ReadOnly: true},
	})
	type m struct{ dst, src string }
	var got []m
	for _, mt := range p.Mounts {
		got = append(got, m{mt.Destination, mt.Source})
	}
	want := []m{
		{"/data", config.ImageBindSource + "0"},
		{"/datb", "/ro"},
		{"/scratch", "/scratch"},
		{"/scratch/bin", config.ImageBindSource + "1"},
		{"/a/b/c", config.ImageBindSource + "2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts %+v, want %+v", got, want)
	}
	wantImages := []config.ImageBind{
		{Image: "/e.img", Path: "/sub", ReadOnly: true},
		{Image: "/img.sif", Path: "/"},
		{Image: "/x.sif", ID: 4, Path: "/"},
	}
	if !reflect.DeepEqual(p.ImageBinds, wantImages) {
		t.Errorf("image binds %+v, want %+v", p.ImageBinds, wantImages)
	}
	// An image bind is never idmapped (its files are the image's, not the
	// host's); a read-only plain bind is.
	for _, mt := range p.Mounts {
		idmap := false
		for _, o := range mt.Options {
			idmap = idmap || o == "idmap"
		}
		if idmap != (mt.Source == "/ro") {
			t.Errorf("%s: idmap %v", mt.Destination, idmap)
		}
	}
}

func TestCNIPluginDirs(t *testing.T) {
	search := []string{"/usr/local/libexec/apptainer/cni", "/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin"}
	for _, tc := range []struct {
		configured string
		want       []string
	}{
		{"", search},
		// The installed apptainer.conf: Debian's, then ours.
		{"/usr/lib/cni", []string{"/usr/lib/cni", "/usr/local/libexec/apptainer/cni"}},
		{"/opt/site/cni", []string{"/opt/site/cni", "/usr/local/libexec/apptainer/cni"}},
		// Ours configured: not searched twice.
		{"/usr/local/libexec/apptainer/cni/", []string{"/usr/local/libexec/apptainer/cni/"}},
	} {
		if got := cniPluginDirs(tc.configured, search); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("cniPluginDirs(%q) = %q, want %q", tc.configured, got, tc.want)
		}
	}
}
