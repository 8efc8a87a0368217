package launcher

import (
	"errors"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/image"
)

func hostWithImage(kind image.Kind, path, owner, group string) Host {
	h := rootHost()
	h.Image = ImageFacts{Kind: kind, RealPath: path, Owner: owner, Group: group}
	return h
}

// TestImageRestrictions: each directive refuses the image it names, with
// upstream's message, and admits the image it does not (the control that
// shows the refusal comes from the directive, not from the image).
func TestImageRestrictions(t *testing.T) {
	sandbox := hostWithImage(image.KindSandbox, "/data/img/debian", "alice", "hpc")
	sif := hostWithImage(image.KindSIF, "/data/img/debian.sif", "alice", "hpc")
	for _, tc := range []struct {
		name string
		conf func(c *apptainerconf.File)
		host Host
		want string // "" admits
	}{
		{"defaults, sandbox", func(*apptainerconf.File) {}, sandbox, ""},
		{"defaults, SIF", func(*apptainerconf.File) {}, sif, ""},
		{"allow container dir = no, sandbox", func(c *apptainerconf.File) { c.AllowContainerDir = false }, sandbox, "configuration disallows users from running sandbox containers"},
		{"allow container dir = no, SIF", func(c *apptainerconf.File) { c.AllowContainerDir = false }, sif, ""},
		{"allow container sif = no, SIF", func(c *apptainerconf.File) { c.AllowContainerSIF = false }, sif, "configuration disallows users from running unencrypted SIF containers"},
		{"allow container sif = no, sandbox", func(c *apptainerconf.File) { c.AllowContainerSIF = false }, sandbox, ""},
		{"limit container paths, outside", func(c *apptainerconf.File) { c.LimitContainerPaths = []string{"/opt/images"} }, sandbox, "apptainer image is not in an allowed configured path"},
		{"limit container paths, inside", func(c *apptainerconf.File) { c.LimitContainerPaths = []string{"/opt/images", "/data/img/"} }, sandbox, ""},
		{"limit container paths, the image itself", func(c *apptainerconf.File) { c.LimitContainerPaths = []string{"/data/img/debian.sif"} }, sif, ""},
		{"limit container paths, a name that only starts alike", func(c *apptainerconf.File) { c.LimitContainerPaths = []string{"/data/im"} }, sandbox, "not in an allowed configured path"},
		{"limit container groups, other", func(c *apptainerconf.File) { c.LimitContainerGroups = []string{"admins"} }, sandbox, "apptainer image is not owned by required group(s)"},
		{"limit container groups, its own", func(c *apptainerconf.File) { c.LimitContainerGroups = []string{"admins", "hpc"} }, sandbox, ""},
		{"limit container owners, other", func(c *apptainerconf.File) { c.LimitContainerOwners = []string{"root"} }, sif, "apptainer image is not owned by required user(s)"},
		{"limit container owners, its own", func(c *apptainerconf.File) { c.LimitContainerOwners = []string{"alice"} }, sif, ""},
		{"limit container owners, an owner without a name", func(c *apptainerconf.File) { c.LimitContainerOwners = []string{""} }, hostWithImage(image.KindSIF, "/x.sif", "", ""), "not owned by required user(s)"},
		{"a restriction and no facts", func(c *apptainerconf.File) { c.AllowContainerDir = false }, rootHost(), "nothing is known of this one"},
		// Upstream's order: paths before owners before kinds.
		{"paths first", func(c *apptainerconf.File) {
			c.LimitContainerPaths, c.LimitContainerOwners, c.AllowContainerDir = []string{"/opt"}, []string{"root"}, false
		}, sandbox, "not in an allowed configured path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := apptainerconf.Default()
			tc.conf(conf)
			o := Options{Action: ActionExec, Image: tc.host.Image.RealPath, Args: []string{"true"}}
			if o.Image == "" {
				o.Image = "/img"
			}
			_, _, err := Build(o, conf, tc.host)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			case tc.want != "" && !errors.Is(err, ErrPermission):
				t.Errorf("error %v is not ErrPermission", err)
			}
		})
	}
}

// TestLimitContainerPathsResolvesEntries: an entry is resolved as the image
// path was, so a link in the administrator's entry still admits the image.
func TestLimitContainerPathsResolvesEntries(t *testing.T) {
	h := hostWithImage(image.KindSandbox, "/srv/images/debian", "root", "root")
	conf := apptainerconf.Default()
	conf.LimitContainerPaths = []string{"/images"}
	o := Options{Action: ActionExec, Image: "/images/debian", Args: []string{"true"}}
	if _, _, err := Build(o, conf, h); err == nil {
		t.Fatal("without resolving, /images admitted /srv/images/debian")
	}
	h.Realpath = func(p string) string { return strings.Replace(p, "/images", "/srv/images", 1) }
	if _, _, err := Build(o, conf, h); err != nil {
		t.Errorf("with /images -> /srv/images: %v", err)
	}
}

// TestMountDirectives: "mount proc/sys/devpts/dev" leave out what they
// name, and only that.
func TestMountDirectives(t *testing.T) {
	for _, contain := range []bool{false, true} {
		opts := Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Contain: contain}
		c, _, err := Build(opts, apptainerconf.Default(), rootHost())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"/proc", "/sys", "/dev"} {
			if findMount(c, d) == nil {
				t.Fatalf("contain=%v, defaults: nothing at %s", contain, d)
			}
		}
		if contain && findMount(c, "/dev/pts") == nil {
			t.Fatalf("contained, defaults: no /dev/pts")
		}
		for _, tc := range []struct {
			line string
			set  func(*apptainerconf.File)
			gone string
		}{
			{"mount sys = no", func(c *apptainerconf.File) { c.MountSys = false }, "/sys"},
			{"mount dev = no", func(c *apptainerconf.File) { c.MountDev = apptainerconf.MountDevNo }, "/dev"},
		} {
			conf := apptainerconf.Default()
			tc.set(conf)
			c, _, err := Build(opts, conf, rootHost())
			if err != nil {
				t.Fatalf("%s: %v", tc.line, err)
			}
			if m := findMount(c, tc.gone); m != nil {
				t.Errorf("contain=%v, %s: %s mounted (%+v)", contain, tc.line, tc.gone, *m)
			}
			for _, d := range []string{"/proc", "/sys", "/dev"} {
				if d != tc.gone && findMount(c, d) == nil {
					t.Errorf("contain=%v, %s: %s is gone too", contain, tc.line, d)
				}
			}
		}
		conf := apptainerconf.Default()
		conf.MountDevPts = false
		if c, _, err = Build(opts, conf, rootHost()); err != nil {
			t.Fatal(err)
		}
		if m := findMount(c, "/dev/pts"); m != nil {
			t.Errorf("contain=%v, mount devpts = no: /dev/pts mounted", contain)
		}
		for _, l := range c.Symlinks {
			if l.Path == "/dev/ptmx" {
				t.Errorf("contain=%v, mount devpts = no: /dev/ptmx still links to %s", contain, l.Target)
			}
		}
	}
}

// TestMountDevMinimal: "mount dev = minimal" gives an uncontained
// container the minimal /dev, not the host's.
func TestMountDevMinimal(t *testing.T) {
	opts := Options{Action: ActionExec, Image: "/img", Args: []string{"true"}}
	c, _, err := Build(opts, apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if m := findMount(c, "/dev"); m == nil || m.Source != "/dev" {
		t.Fatalf("defaults: /dev is %+v, want the host's", m)
	}
	conf := apptainerconf.Default()
	conf.MountDev = apptainerconf.MountDevMinimal
	if c, _, err = Build(opts, conf, rootHost()); err != nil {
		t.Fatal(err)
	}
	if m := findMount(c, "/dev"); m == nil || m.Type != "tmpfs" {
		t.Errorf("mount dev = minimal: /dev is %+v, want a tmpfs", m)
	}
	if len(c.Spec.Linux.Devices) == 0 || findMount(c, "/dev/pts") == nil {
		t.Errorf("mount dev = minimal: devices %v, /dev/pts %v", c.Spec.Linux.Devices, findMount(c, "/dev/pts"))
	}
}

// TestMountConfRefusals: a booted instance cannot do without /proc, /sys,
// /dev or devpts, and only a --writable root does without an overlay.
func TestMountConfRefusals(t *testing.T) {
	boot := instanceOpts(func(o *Options) { o.Boot = true })
	if _, _, err := Build(boot, apptainerconf.Default(), rootHost()); err != nil {
		t.Fatalf("control: --boot with defaults: %v", err)
	}
	for line, set := range map[string]func(*apptainerconf.File){
		"mount sys = no":    func(c *apptainerconf.File) { c.MountSys = false },
		"mount dev = no":    func(c *apptainerconf.File) { c.MountDev = apptainerconf.MountDevNo },
		"mount devpts = no": func(c *apptainerconf.File) { c.MountDevPts = false },
	} {
		conf := apptainerconf.Default()
		set(conf)
		_, _, err := Build(boot, conf, rootHost())
		if err == nil || !strings.Contains(err.Error(), line) {
			t.Errorf("--boot with %q: %v", line, err)
		}
	}
	noProc := apptainerconf.Default()
	noProc.MountProc = false
	for _, o := range []Options{boot, {Action: ActionExec, Image: "/img", Args: []string{"true"}}} {
		if _, _, err := Build(o, noProc, rootHost()); err == nil || !strings.Contains(err.Error(), `"mount proc = no", which this build cannot honour`) {
			t.Errorf("%s with mount proc = no: %v", o.Action, err)
		}
	}
	conf := apptainerconf.Default()
	conf.MountDev = apptainerconf.MountDevMinimal
	if _, _, err := Build(boot, conf, rootHost()); err != nil {
		t.Errorf("--boot with mount dev = minimal (what --boot has anyway): %v", err)
	}

	conf = apptainerconf.Default()
	conf.EnableOverlay = apptainerconf.OverlayNo
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"read-only", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}}, false},
		{"--writable-tmpfs", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, WritableTmpfs: true}, false},
		{"--boot", boot, false},
		{"--writable", Options{Action: ActionExec, Image: "/img", Args: []string{"true"}, Writable: true}, true},
	} {
		_, _, err := Build(tc.o, conf, rootHost())
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), `"enable overlay = no"`)) {
			t.Errorf("enable overlay = no, %s: %v (want ok=%v)", tc.name, err, tc.ok)
		}
		if _, _, err := Build(tc.o, apptainerconf.Default(), rootHost()); err != nil {
			t.Errorf("control: %s with defaults: %v", tc.name, err)
		}
	}
}
