package launcher

import (
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

func execOpts(mod func(*Options)) Options {
	o := Options{Action: ActionExec, Image: "/img", Args: []string{"true"}}
	mod(&o)
	return o
}

// TestNoMount: each --no-mount entry removes what the matching directive
// mounts, and only that; a bind path goes by its destination.
func TestNoMount(t *testing.T) {
	conf := apptainerconf.Default()
	conf.BindPath = []string{"/etc/localtime", "/etc/hosts", "/srv/data:/data"}
	c, _, err := Build(execOpts(func(*Options) {}), conf, rootHost())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/sys", "/dev", "/tmp", "/root", "/data", "/etc/hosts"} {
		if findMount(c, d) == nil {
			t.Fatalf("control: nothing at %s", d)
		}
	}
	for _, tc := range []struct {
		noMount string
		gone    []string
	}{
		{"sys", []string{"/sys"}},
		{"dev", []string{"/dev"}},
		{"tmp", []string{"/tmp", "/var/tmp"}},
		{"home", []string{"/root"}},
		{"/data", []string{"/data"}},
		{"bind-paths", []string{"/data", "/etc/hosts", "/etc/localtime"}},
		{"sys,tmp", []string{"/sys", "/tmp"}},
		{"hostfs", nil},
		{"cwd", nil},
	} {
		c, _, err := Build(execOpts(func(o *Options) { o.NoMount = []string{tc.noMount} }), conf, rootHost())
		if err != nil {
			t.Fatalf("--no-mount %s: %v", tc.noMount, err)
		}
		for _, d := range []string{"/sys", "/dev", "/tmp", "/root", "/data", "/etc/hosts"} {
			gone := strings.Contains(","+strings.Join(tc.gone, ",")+",", ","+d+",")
			if (findMount(c, d) == nil) != gone {
				t.Errorf("--no-mount %s: mount at %s present=%v, want %v", tc.noMount, d, findMount(c, d) != nil, !gone)
			}
		}
	}
	if len(conf.BindPath) != 3 {
		t.Errorf("--no-mount changed the caller's conf: %v", conf.BindPath)
	}
	for _, bad := range []string{"proc", "nonsense", "data"} {
		_, _, err := Build(execOpts(func(o *Options) { o.NoMount = []string{bad} }), conf, rootHost())
		if err == nil {
			t.Errorf("--no-mount %s accepted", bad)
		}
	}
}

func TestEverydayFlags(t *testing.T) {
	c, _, err := Build(execOpts(func(o *Options) { o.Cwd = "/opt/work"; o.Contain = true }), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Process.Cwd != "/opt/work" {
		t.Errorf("--cwd: cwd %q", c.Spec.Process.Cwd)
	}
	if c, _, _ = Build(execOpts(func(o *Options) { o.NoHome = true }), apptainerconf.Default(), rootHost()); findMount(c, "/root") != nil {
		t.Errorf("--no-home: home mounted")
	}
	c, _, _ = Build(execOpts(func(*Options) {}), apptainerconf.Default(), rootHost())
	if c.Spec.Process.User.Umask != nil {
		t.Errorf("control: umask set without --no-umask")
	}
	c, _, _ = Build(execOpts(func(o *Options) { o.NoUmask = true }), apptainerconf.Default(), rootHost())
	if u := c.Spec.Process.User.Umask; u == nil || *u != 0o022 {
		t.Errorf("--no-umask: umask %v", u)
	}
	c, _, err = Build(execOpts(func(o *Options) { o.Scratch = []string{"/scratch,/s2"} }), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/scratch", "/s2"} {
		if m := findMount(c, d); m == nil || m.Type != "tmpfs" {
			t.Errorf("--scratch: %s is %+v", d, m)
		}
	}
	c, _, _ = Build(execOpts(func(o *Options) { o.Scratch = []string{"/scratch"}; o.Workdir = "/w" }), apptainerconf.Default(), rootHost())
	if m := findMount(c, "/scratch"); m == nil || m.Source != "/w/scratch/scratch" {
		t.Errorf("--scratch with --workdir: %+v", m)
	}
	if _, _, err := Build(execOpts(func(o *Options) { o.Scratch = []string{"rel"} }), apptainerconf.Default(), rootHost()); err == nil {
		t.Errorf("--scratch rel accepted")
	}
}

// TestEnvFileAndNoEval: --env wins over --env-file, which wins over
// APPTAINERENV_; --no-eval passes values unevaluated.
func TestEnvFileAndNoEval(t *testing.T) {
	vars, err := ParseEnvFile("f", "# comment\n\nA=1\nexport B='two words'\nC=\"$HOME/x\"\nAPPTAINER_X=\n")
	if err != nil {
		t.Fatal(err)
	}
	if vars["A"] != "1" || vars["B"] != "two words" || vars["C"] != "$HOME/x" {
		t.Errorf("ParseEnvFile: %v", vars)
	}
	for _, bad := range []string{"no equals sign", "1A=x", "A B=x"} {
		if _, err := ParseEnvFile("f", bad); err == nil || !strings.Contains(err.Error(), "f:1") {
			t.Errorf("ParseEnvFile(%q): %v", bad, err)
		}
	}
	h := hostWithShell("/bin/sh")
	h.Environ = append(h.Environ, "APPTAINERENV_A=env", "APPTAINERENV_INJECTED=yes")
	o := execOpts(func(o *Options) { o.EnvFile = vars; o.Env = map[string]string{"B": "flag"} })
	c, _, err := Build(o, apptainerconf.Default(), h)
	if err != nil {
		t.Fatal(err)
	}
	env := c.Spec.Process.Env
	for k, want := range map[string]string{"__APPTAINER_FORCE_A": "1", "__APPTAINER_FORCE_B": "flag", "__APPTAINER_FORCE_C": "$HOME/x", "__APPTAINER_EVAL": "1"} {
		if v, _ := envValue(env, k); v != want {
			t.Errorf("%s=%q, want %q", k, v, want)
		}
	}
	o.NoEval = true
	o.Env = map[string]string{"Q": `a"b`}
	c, _, _ = Build(o, apptainerconf.Default(), h)
	if v, _ := envValue(c.Spec.Process.Env, "__APPTAINER_EVAL"); v != "" {
		t.Errorf("--no-eval: __APPTAINER_EVAL=%q", v)
	}
	if v, _ := envValue(c.Spec.Process.Env, "__APPTAINER_FORCE_Q"); v != `a"b` {
		t.Errorf("--no-eval: a value is escaped for an evaluation that does not happen: %q", v)
	}
	for _, k := range []string{"APPTAINER_NO_EVAL", "SINGULARITY_NO_EVAL"} {
		if v, _ := envValue(c.Spec.Process.Env, k); v != "1" {
			t.Errorf("--no-eval: %s=%q, want 1 for the image's runscript", k, v)
		}
		if _, ok := envValue(env, k); ok {
			t.Errorf("without --no-eval, %s is set", k)
		}
	}
}

func TestOverlay(t *testing.T) {
	c, _, err := Build(execOpts(func(o *Options) { o.Overlay = []string{"/ov/rw", "/ov/a:ro", "/ov/b:ro"} }), apptainerconf.Default(), rootHost())
	if err != nil {
		t.Fatal(err)
	}
	if ov := c.Overlay; ov == nil || ov.Upper != "/ov/rw" || strings.Join(ov.Lower, " ") != "/ov/a /ov/b" {
		t.Errorf("overlay %+v", c.Overlay)
	}
	if c.Rootfs != "tmpfs-overlay" {
		t.Errorf("a writable overlay leaves the root %s", c.Rootfs)
	}
	c, _, _ = Build(execOpts(func(o *Options) { o.Overlay = []string{"/ov/a:ro"} }), apptainerconf.Default(), rootHost())
	if c.Rootfs != "readonly" || c.Overlay.Upper != "" {
		t.Errorf("read-only overlays only: root %s, overlay %+v", c.Rootfs, c.Overlay)
	}
	if c, _, _ = Build(execOpts(func(*Options) {}), apptainerconf.Default(), rootHost()); c.Overlay != nil {
		t.Errorf("control: overlay %+v without --overlay", c.Overlay)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{execOpts(func(o *Options) { o.Overlay = []string{"/a", "/b"} }), "only one writable overlay"},
		{execOpts(func(o *Options) { o.Overlay = []string{"rel"} }), "absolute"},
		{execOpts(func(o *Options) { o.Overlay = []string{"/a,b"} }), "comma or colon"},
		{execOpts(func(o *Options) { o.Overlay = []string{"/a"}; o.Writable = true }), "use one"},
		{instanceOpts(func(o *Options) { o.Boot, o.BootHostnet, o.Overlay = true, true, []string{"/a"} }), "cannot be used in a user namespace"},
	} {
		if _, _, err := Build(tc.o, apptainerconf.Default(), rootHost()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.o.Overlay, err, tc.want)
		}
	}
}

func TestApp(t *testing.T) {
	h := hostWithShell("/bin/sh", "/scif/apps/foo", "/scif/apps/foo/scif/runscript", "/scif/apps/bar")
	run := func(o Options) (*config.Config, error) {
		c, _, err := Build(o, apptainerconf.Default(), h)
		return c, err
	}
	c, err := run(Options{Action: ActionRun, Image: "/img", App: "foo", Args: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if args := c.Spec.Process.Args; args[len(args)-2] != "/scif/apps/foo/scif/runscript" || args[len(args)-1] != "a" {
		t.Errorf("run --app foo: %q", args)
	}
	if v, _ := envValue(c.Spec.Process.Env, "SINGULARITY_APPNAME"); v != "foo" {
		t.Errorf("run --app foo: SINGULARITY_APPNAME=%q", v)
	}
	c, _ = run(Options{Action: ActionExec, Image: "/img", App: "bar", Args: []string{"env"}})
	if args := c.Spec.Process.Args; args[len(args)-1] != "env" {
		t.Errorf("exec --app bar: %q", args)
	}
	c, _ = run(Options{Action: ActionExec, Image: "/img", Args: []string{"env"}})
	if v, ok := envValue(c.Spec.Process.Env, "APPTAINER_APPNAME"); !ok || v != "" {
		t.Errorf("control: without --app, APPTAINER_APPNAME=%q (set %v)", v, ok)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Action: ActionExec, Image: "/img", App: "nosuch", Args: []string{"env"}}, `no app "nosuch"`},
		{Options{Action: ActionExec, Image: "/img", App: "../foo", Args: []string{"env"}}, `no app "../foo"`},
		{Options{Action: ActionRun, Image: "/img", App: "bar"}, "no runscript for contained app: bar"},
		{instanceOpts(func(o *Options) { o.Boot, o.App = true, "foo" }), "--app cannot be used with --boot"},
	} {
		if _, err := run(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o.App, err, tc.want)
		}
	}
}
