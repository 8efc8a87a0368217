package launcher

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

func hostWithShell(has ...string) Host {
	h := rootHost()
	h.ImageHas = func(p string) bool { return slices.Contains(has, p) }
	return h
}

func envValue(env []string, k string) (string, bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestActionScriptWrapsWhenTheImageHasAShell: the image's environment is
// applied by the action script, run by the image's /bin/sh; an image
// without one, and a booted init, get their command as it is.
func TestActionScriptWrapsWhenTheImageHasAShell(t *testing.T) {
	o := Options{Action: ActionExec, Image: "/img/debian", Args: []string{"env"}, Env: map[string]string{"X": "1"}}
	c, _, err := Build(o, apptainerconf.Default(), hostWithShell("/bin/sh"))
	if err != nil {
		t.Fatal(err)
	}
	args := c.Spec.Process.Args
	if len(args) != 5 || args[0] != "/bin/sh" || args[1] != "-c" || args[2] != actionScript || args[3] != actionArgv0 || args[4] != "env" {
		t.Fatalf("args %q, want the action script in front of env", args)
	}
	env := c.Spec.Process.Env
	for k, want := range map[string]string{"__APPTAINER_FORCE_X": "1", "__APPTAINER_FORCE_INJECTED": "yes", "__APPTAINER_FORCE": "INJECTED X", "__APPTAINER_EVAL": "1", "__APPTAINER_ACTION": "1"} {
		if v, _ := envValue(env, k); v != want {
			t.Errorf("%s=%q, want %q", k, v, want)
		}
	}
	if keep, _ := envValue(env, "__APPTAINER_KEEP"); keep != "FOO TERM" {
		t.Errorf("__APPTAINER_KEEP=%q, want the forwarded FOO TERM", keep)
	}
	if _, ok := envValue(env, "INJECTED"); ok {
		t.Errorf("a forced variable is set before the image's scripts: %v", env)
	}
	if jenv, got := ForJoin(ActionShell, env, []string{"ls"}); len(got) != 5 || got[4] != "ls" || got[2] != actionScript || !slices.Contains(jenv, "APPTAINER_COMMAND=shell") {
		t.Errorf("ForJoin for an instance with the action script: %q", got)
	}

	c, _, err = Build(o, apptainerconf.Default(), hostWithShell())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Spec.Process.Args, []string{"env"}) {
		t.Errorf("no /bin/sh in the image: args %q", c.Spec.Process.Args)
	}
	if v, _ := envValue(c.Spec.Process.Env, "INJECTED"); v != "yes" {
		t.Errorf("no /bin/sh: forced variables are not set directly: %v", c.Spec.Process.Env)
	}
	if _, got := ForJoin(ActionExec, c.Spec.Process.Env, []string{"ls"}); !slices.Equal(got, []string{"ls"}) {
		t.Errorf("ForJoin without the action script: %q", got)
	}

	c, _, err = Build(instanceOpts(func(o *Options) { o.Boot = true }), apptainerconf.Default(), hostWithShell("/bin/sh", "/sbin/init"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Process.Args[0] != "/sbin/init" {
		t.Errorf("--boot: args %q, want init itself", c.Spec.Process.Args)
	}
	o.Plain = true
	if c, _, _ = Build(o, apptainerconf.Default(), hostWithShell("/bin/sh")); !slices.Equal(c.Spec.Process.Args, []string{"env"}) {
		t.Errorf("Plain: args %q", c.Spec.Process.Args)
	}
}

// TestEnvironmentBaseline: the variables upstream's containers have, and
// what is never forwarded.
func TestEnvironmentBaseline(t *testing.T) {
	h := hostWithShell("/.singularity.d/runscript", "/.singularity.d/startscript")
	h.Environ = append(h.Environ, "LD_LIBRARY_PATH=/host/lib", "APPTAINERENV_HOME=/nope", "APPTAINERENV_PREPEND_PATH=/pre", "APPTAINERENV_APPEND_PATH=/app", "SINGULARITYENV_PATH=/legacy")
	for action, command := range map[Action]string{ActionExec: "exec", ActionShell: "shell", ActionRun: "run", ActionInstanceStart: "start"} {
		o := Options{Action: action, Image: "/img/debian", Args: []string{"true"}, InstanceName: "i1", Binds: []string{"/a:/b", "/c"}}
		c, msgs, err := Build(o, apptainerconf.Default(), h)
		if err != nil {
			t.Fatal(err)
		}
		env := c.Spec.Process.Env
		want := map[string]string{
			"APPTAINER_COMMAND": command, "APPTAINER_APPNAME": "", "APPTAINER_NAME": "debian",
			"APPTAINER_BIND": "/a:/b,/c", "USER_PATH": "/usr/bin:/bin:/usr/bin:/sbin:/usr/sbin:/usr/local/bin:/usr/local/sbin",
			"HOME": "/root", "PWD": c.Spec.Process.Cwd,
			// SINGULARITYENV_PATH replaces the PATH, the prepend and append
			// go around it: applied directly for an image without a shell.
			"PATH": "/legacy",
		}
		for k, v := range want {
			if got, ok := envValue(env, k); !ok || got != v {
				t.Errorf("%s: %s=%q (set %v), want %q", action, k, got, ok, v)
			}
		}
		if _, ok := envValue(env, "LD_LIBRARY_PATH"); ok {
			t.Errorf("%s: the caller's LD_LIBRARY_PATH is forwarded", action)
		}
		if !slices.Contains(msgs, Message{Warning, "Overriding HOME environment variable with APPTAINERENV_HOME is not permitted"}) {
			t.Errorf("%s: no warning for APPTAINERENV_HOME: %v", action, msgs)
		}
	}
	h.Environ = h.Environ[:len(h.Environ)-1] // without SINGULARITYENV_PATH
	c, _, err := Build(Options{Action: ActionExec, Image: "/img", Args: []string{"true"}}, apptainerconf.Default(), h)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := envValue(c.Spec.Process.Env, "PATH"); p != "/pre:"+config.DefaultPath+":/app" {
		t.Errorf("prepend and append: PATH=%q", p)
	}
}

// TestActionScriptSemantics runs action.sh with the host's shells, without
// an image (no /.singularity.d/env here): forced values win and are
// evaluated once, forwarded values are restored, PATH overrides apply,
// and a missing command is one clear line.
func TestActionScriptSemantics(t *testing.T) {
	shells := [][]string{{"/bin/sh"}}
	if _, err := exec.LookPath("busybox"); err == nil {
		shells = append(shells, []string{"busybox", "sh"})
	}
	if _, err := exec.LookPath("bash"); err == nil {
		shells = append(shells, []string{"bash", "--posix"})
	}
	p := envPlan{
		base:   map[string]string{"PATH": "/usr/bin:/bin", "HOME": "/root", "FOO": "host", "KEPT": "host value"},
		keep:   []string{"FOO", "KEPT"},
		forced: map[string]string{"FOO": "forced", "EVAL": "$HOME/x", `QUOTE`: `a"b`, "TRAIL": `c\`, "LD_LIBRARY_PATH": "/opt/lib"},
		paths:  map[string]string{"PREPEND_PATH": "/pre"},
	}
	for _, sh := range shells {
		run := func(args ...string) (string, string, error) {
			cmd := exec.Command(sh[0], append(append(sh[1:], "-c", actionScript, actionArgv0), args...)...)
			cmd.Env = p.forAction(true)
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			return out.String(), errb.String(), err
		}
		out, stderr, err := run("env")
		if err != nil {
			t.Fatalf("%v: %v\n%s", sh, err, stderr)
		}
		env := strings.Split(strings.TrimSpace(out), "\n")
		for k, v := range map[string]string{
			"FOO": "forced", "KEPT": "host value", "EVAL": "/root/x", "QUOTE": `a"b`, "TRAIL": `c\`,
			"LD_LIBRARY_PATH": "/opt/lib:/.singularity.d/libs", "PATH": "/pre:/usr/bin:/bin",
			"PS1": "Apptainer> ", "APPTAINER_ENVIRONMENT": "/.singularity.d/env/91-environment.sh",
		} {
			if got, ok := envValue(env, k); !ok || got != v {
				t.Errorf("%v: %s=%q (set %v), want %q", sh, k, got, ok, v)
			}
		}
		for _, kv := range env {
			if strings.HasPrefix(strings.ToUpper(kv), "__APPTAINER") {
				t.Errorf("%v: a helper variable reaches the command: %s", sh, kv)
			}
		}
		if _, stderr, err := run("/nonexistent"); err == nil || stderr != "FATAL:   /nonexistent: no such file or directory\n" {
			t.Errorf("%v: missing path: %v %q", sh, err, stderr)
		}
		if _, stderr, err := run("nonexistent-command"); err == nil || stderr != "FATAL:   nonexistent-command: executable file not found in $PATH\n" {
			t.Errorf("%v: missing command: %v %q", sh, err, stderr)
		}
	}
}
