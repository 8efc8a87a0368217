package network

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
)

// PluginPath is the PATH plugins run with. bridge (ipMasq), firewall and
// portmap run iptables, which distributions install in /usr/sbin; without it
// ADD fails with "failed to locate iptables".
const PluginPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// cniEnvKeys are the variables libcni sets for one plugin run.
var cniEnvKeys = []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_ARGS", "CNI_IFNAME", "CNI_PATH"}

// pluginEnv builds a plugin's whole environment from the list libcni hands
// to invoke.Exec. libcni starts that list from os.Environ(), so a caller's
// CNI_IFNAME, LD_PRELOAD or PATH would otherwise reach a program that runs
// as root; only libcni's own CNI_* values and a fixed PATH are kept.
func pluginEnv(environ []string) []string {
	env := make([]string, 0, len(cniEnvKeys)+1)
	for _, key := range cniEnvKeys {
		// libcni appends its values after os.Environ(), so the last
		// occurrence is the one it meant.
		for i := len(environ) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(environ[i], key+"="); ok {
				env = append(env, key+"="+v)
				break
			}
		}
	}
	return append(env, "PATH="+PluginPath)
}

// pluginExec runs plugins for libcni with the environment of pluginEnv and
// without touching the process environment.
type pluginExec struct {
	raw invoke.RawExec // Stderr nil: plugin chatter is dropped, errors keep it
	version.PluginDecoder

	// keepGoing makes a failed plugin look successful to libcni and
	// records the failure instead. DelNetworkList stops at the first
	// failing plugin; a DEL that follows a failed or partial ADD often
	// fails in one plugin (the rule it removes was never made) while the
	// others still hold a veth, a lease or a chain that must go.
	keepGoing bool
	failures  []error

	// lastAdd is the output of the last plugin whose ADD succeeded: the
	// result of the chain so far, which DEL needs as prevResult when a
	// later plugin fails (libcni caches only complete results).
	lastAdd []byte
}

var _ invoke.Exec = (*pluginExec)(nil)

// ExecPlugin implements invoke.Exec.
func (e *pluginExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	env := pluginEnv(environ)
	out, err := e.raw.ExecPlugin(ctx, pluginPath, stdin, env)
	if err == nil && slices.Contains(env, "CNI_COMMAND=ADD") {
		e.lastAdd = out
	}
	if err != nil && e.keepGoing {
		e.failures = append(e.failures, fmt.Errorf("plugin type=%q failed (delete): %w", filepath.Base(pluginPath), err))
		return nil, nil
	}
	return out, err
}

// FindInPath implements invoke.Exec.
func (e *pluginExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

// withoutMissingPlugins returns a copy of list holding only the plugins
// whose binaries exist, and an error for each one that does not. libcni
// looks a plugin up just before running it and gives up on the whole list
// when one is missing, which would leave the others' DEL undone.
func withoutMissingPlugins(list *libcni.NetworkConfigList, dirs []string) (*libcni.NetworkConfigList, []error) {
	kept := *list
	kept.Plugins = nil
	var errs []error
	for _, p := range list.Plugins {
		if _, err := invoke.FindInPath(p.Network.Type, dirs); err != nil {
			errs = append(errs, fmt.Errorf("plugin type=%q failed (delete): %w", p.Network.Type, err))
			continue
		}
		kept.Plugins = append(kept.Plugins, p)
	}
	return &kept, errs
}
