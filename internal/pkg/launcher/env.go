package launcher

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

// alwaysForwarded survive --cleanenv, as upstream.
var alwaysForwarded = []string{"TERM", "http_proxy", "https_proxy", "no_proxy", "all_proxy", "ftp_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY"}

// processEnv builds the environment of an ordinary container process:
// the host's environment (unless --cleanenv), never the runtime's own
// APPTAINER_/SINGULARITY_ variables, then APPTAINERENV_ and --env values,
// then the variables the runtime defines.
func processEnv(o Options, h Host, cleanEnv bool, home string) []string {
	env := map[string]string{}
	injected := map[string]string{}
	for _, kv := range h.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		for _, prefix := range []string{"APPTAINERENV_", "SINGULARITYENV_"} {
			if name, found := strings.CutPrefix(k, prefix); found && name != "" {
				if _, set := injected[name]; !set || prefix == "APPTAINERENV_" {
					injected[name] = v
				}
			}
		}
		if strings.HasPrefix(k, "APPTAINER") || strings.HasPrefix(k, "SINGULARITY") {
			continue
		}
		if cleanEnv && !slices.Contains(alwaysForwarded, k) {
			continue
		}
		env[k] = v
	}
	if cleanEnv {
		env["LANG"] = "C"
	}
	for k, v := range injected {
		env[k] = v
	}
	for k, v := range o.Env {
		env[k] = v
	}
	env["PATH"] = config.DefaultPath
	env["HOME"] = home
	setBoth(env, "CONTAINER", o.Image)
	setBoth(env, "NAME", filepath.Base(o.Image))
	if o.InstanceName != "" {
		setBoth(env, "INSTANCE", o.InstanceName)
	}
	return sortedEnv(env)
}

// initEnv is the environment of a booted /sbin/init: systemd's container
// interface asks for container= and container_uuid=, and nothing of the
// caller's shell belongs in PID 1 of a booted system.
func initEnv(uuid string) []string {
	return []string{
		"container=apptainer",
		"container_uuid=" + uuid,
		"NOTIFY_SOCKET=/run/host/notify",
		"PATH=" + config.DefaultPath,
		"TERM=vt220",
	}
}

func setBoth(env map[string]string, name, value string) {
	env["APPTAINER_"+name] = value
	env["SINGULARITY_"+name] = value
}

func sortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
