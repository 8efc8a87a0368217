package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/spf13/cobra"
)

// parseAction parses args as flags of an action command of group g,
// applying env, and returns the options.
func parseAction(t *testing.T, g flagGroup, args []string, env map[string]string) (*actionOptions, string, error) {
	t.Helper()
	o := &actionOptions{}
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	register(cmd, actionFlags, g, o)
	if err := cmd.ParseFlags(args); err != nil {
		return nil, "", err
	}
	var log bytes.Buffer
	err := applyEnv(cmd, actionFlags, func(k string) string { return env[k] }, &logger{level: levelInfo, w: &log})
	return o, log.String(), err
}

func TestFlagEnvPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		group   flagGroup
		args    []string
		env     map[string]string
		check   func(o *actionOptions) bool
		wantLog string
	}{
		{"flag alone", groupInstance, []string{"--boot-hostnet"}, nil, func(o *actionOptions) bool { return o.BootHostnet }, ""},
		{"APPTAINER_ env", groupInstance, nil, map[string]string{"APPTAINER_BOOT_HOSTNET": "true"}, func(o *actionOptions) bool { return o.BootHostnet }, ""},
		{"SINGULARITY_ env with info", groupInstance, nil, map[string]string{"SINGULARITY_BOOT": "1"},
			func(o *actionOptions) bool { return o.Boot }, "INFO:    Environment variable SINGULARITY_BOOT is set, but APPTAINER_BOOT is preferred"},
		{"both env, APPTAINER_ wins with a warning", groupAll, nil, map[string]string{"APPTAINER_HOSTNAME": "a", "SINGULARITY_HOSTNAME": "b"},
			func(o *actionOptions) bool { return o.Hostname == "a" }, "WARNING: SINGULARITY_HOSTNAME and APPTAINER_HOSTNAME have different values, using the latter"},
		{"flag beats env", groupAll, []string{"--hostname", "flag"}, map[string]string{"APPTAINER_HOSTNAME": "env"},
			func(o *actionOptions) bool { return o.Hostname == "flag" }, ""},
		{"second env key", groupAll, nil, map[string]string{"APPTAINER_UNSHARE_NET": "true"}, func(o *actionOptions) bool { return o.Net }, ""},
		{"bind env appends to flags", groupAll, []string{"-B", "/a"}, map[string]string{"APPTAINER_BIND": "/b,/c:/d"},
			func(o *actionOptions) bool { return strings.Join(o.Binds, " ") == "/a /b /c:/d" }, ""},
		{"network-args split on commas", groupAll, []string{"--network-args", "portmap=80/tcp,IP=10.22.0.9"}, nil,
			func(o *actionOptions) bool { return len(o.NetworkArgs) == 2 }, ""},
		{"shorthands", groupAll, []string{"-n", "-C", "-w", "-H", "/h", "-W", "/w"}, nil,
			func(o *actionOptions) bool {
				return o.Net && o.ContainAll && o.Writable && o.Home == "/h" && o.Workdir == "/w"
			}, ""},
		{"unmask list", groupInstance, []string{"--boot-hostnet-unmask", "a.service,b.service", "--boot-hostnet-unmask", "c.socket"}, nil,
			func(o *actionOptions) bool { return len(o.BootHostnetUnmask) == 3 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, log, err := parseAction(t, tt.group, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("options not as expected: %+v", o.Options)
			}
			if tt.wantLog != "" && !strings.Contains(log, tt.wantLog) {
				t.Errorf("log %q lacks %q", log, tt.wantLog)
			}
		})
	}
}

func TestFlagGroups(t *testing.T) {
	if _, _, err := parseAction(t, groupActions, []string{"--boot"}, nil); err == nil {
		t.Error("--boot accepted on exec")
	}
	if _, _, err := parseAction(t, groupActions, []string{"--boot-hostnet"}, nil); err == nil {
		t.Error("--boot-hostnet accepted on exec")
	}
	if _, _, err := parseAction(t, groupInstance, []string{"--pid"}, nil); err == nil {
		t.Error("--pid accepted on instance start")
	}
}

func TestUnsupportedFlags(t *testing.T) {
	for _, args := range [][]string{{"--compat"}, {"--nv"}} {
		_, _, err := parseAction(t, groupAll, args, nil)
		if err == nil || !strings.Contains(err.Error(), "is not supported by this build") {
			t.Errorf("%v: error %v, want not supported", args, err)
		}
	}
	_, _, err := parseAction(t, groupAll, nil, map[string]string{"APPTAINER_NV": "1"})
	if err == nil {
		t.Error("APPTAINER_NV accepted")
	}
}

func TestUsernsFlags(t *testing.T) {
	for _, tc := range []struct {
		args             []string
		env              map[string]string
		fakeroot, userns bool
	}{
		{[]string{"--fakeroot"}, nil, true, false},
		{[]string{"-f"}, nil, true, false},
		{[]string{"--userns"}, nil, false, true},
		{[]string{"-u"}, nil, false, true},
		{nil, map[string]string{"APPTAINER_FAKEROOT": "1"}, true, false},
		{nil, map[string]string{"APPTAINER_UNSHARE_USERNS": "1"}, false, true},
		{nil, nil, false, false},
	} {
		o, _, err := parseAction(t, groupAll, tc.args, tc.env)
		if err != nil {
			t.Errorf("%v %v: %v", tc.args, tc.env, err)
			continue
		}
		if o.Fakeroot != tc.fakeroot || o.UserNS != tc.userns {
			t.Errorf("%v %v: fakeroot %v userns %v, want %v %v", tc.args, tc.env, o.Fakeroot, o.UserNS, tc.fakeroot, tc.userns)
		}
	}
}

func TestEveryFlagHasAGroupAndBinding(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range actionFlags {
		if f.Groups == 0 || f.Var == nil || f.Usage == "" {
			t.Errorf("flag %s is incomplete", f.Name)
		}
		if seen[f.Name] {
			t.Errorf("flag %s listed twice", f.Name)
		}
		seen[f.Name] = true
	}
	var _ launcher.Options = actionOptions{}.Options
}

// TestEveryCommandsFlagsMerge: cobra merges a command's inherited flags
// into its own when it runs; a shorthand used twice on that path panics
// then, not when the tree is built. Merge them all here.
func TestEveryCommandsFlagsMerge(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: %v", c.CommandPath(), r)
				}
			}()
			_ = c.Flags()
			_ = c.InheritedFlags()
			_ = c.LocalFlags()
		}()
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCommand())
}

// TestConfigBeforeTheCommand: -c before the command names the
// configuration file; after exec's name it is --contain.
func TestConfigBeforeTheCommand(t *testing.T) {
	root := NewRootCommand()
	// Parsing only: the file named is not there to be checked.
	root.PersistentPreRunE = nil
	root.SetArgs([]string{"-c", "/etc/x.conf", "exec", "-c", "/img", "true"})
	var src confSource
	var contain bool
	exec, _, err := root.Find([]string{"exec"})
	if err != nil {
		t.Fatal(err)
	}
	exec.RunE = func(cmd *cobra.Command, _ []string) error {
		src = configSource(cmd, func(string) string { return "" }, stderrLog)
		contain, _ = cmd.Flags().GetBool("contain")
		return nil
	}
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if src != (confSource{Path: "/etc/x.conf", Chosen: true}) || !contain {
		t.Errorf("config %+v, contain %v; want /etc/x.conf chosen and --contain", src, contain)
	}
	src = configSource(exec, func(k string) string {
		if k == "APPTAINER_CONFIG_FILE" {
			return "/etc/env.conf"
		}
		return ""
	}, stderrLog)
	if src.Path != "/etc/x.conf" {
		t.Errorf("-c given, APPTAINER_CONFIG_FILE set: %+v, want the flag's", src)
	}
}
