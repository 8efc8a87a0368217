package launcher

import (
	"bufio"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

// alwaysForwarded survive --cleanenv, as upstream.
var alwaysForwarded = []string{"TERM", "http_proxy", "https_proxy", "no_proxy", "all_proxy", "ftp_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY"}

// alwaysOmitted are never forwarded from the caller: the container gets
// its own HOME and PATH, and the caller's libraries mean nothing inside.
var alwaysOmitted = []string{"HOME", "PATH", "LD_LIBRARY_PATH"}

// notOverridable cannot be set with APPTAINERENV_ or --env, as upstream.
var notOverridable = []string{"HOME", "APPTAINER_SHELL", "SINGULARITY_SHELL", "APPTAINER_APPNAME", "SINGULARITY_APPNAME"}

// pathOverrides are APPTAINERENV_PATH, _PREPEND_PATH and _APPEND_PATH,
// applied to the container's PATH after the image's environment.
var pathOverrides = []string{"PATH", "PREPEND_PATH", "APPEND_PATH"}

// upstreamUserPathTail ends USER_PATH, as upstream's does.
const upstreamUserPathTail = "/bin:/usr/bin:/sbin:/usr/sbin:/usr/local/bin:/usr/local/sbin"

// envPlan is the environment of an ordinary container process, before it
// is rendered for a process with or without the action script.
type envPlan struct {
	base map[string]string
	// keep are the forwarded caller's variables the action script hides
	// from the image's scripts.
	keep []string
	// forced are APPTAINERENV_* and --env values; paths the PATH overrides.
	forced, paths map[string]string
}

// planEnv collects the caller's environment (unless --cleanenv), never the
// runtime's own APPTAINER_/SINGULARITY_ variables, the caller's
// APPTAINERENV_ and --env values, and the variables the runtime defines.
func planEnv(o Options, h Host, cleanEnv bool, home, cwd string) (envPlan, []Message) {
	p := envPlan{base: map[string]string{}, forced: map[string]string{}, paths: map[string]string{}}
	var msgs []Message
	var hostPath string
	for _, kv := range h.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if k == "PATH" {
			hostPath = v
		}
		for _, prefix := range []string{"APPTAINERENV_", "SINGULARITYENV_"} {
			name, found := strings.CutPrefix(k, prefix)
			if !found || name == "" {
				continue
			}
			target := p.forced
			switch {
			case slices.Contains(pathOverrides, name):
				target = p.paths
			case slices.Contains(notOverridable, name):
				msgs = append(msgs, Message{Warning, "Overriding " + name + " environment variable with " + k + " is not permitted"})
				continue
			}
			if _, set := target[name]; !set || prefix == "APPTAINERENV_" {
				target[name] = v
			}
		}
		switch {
		case strings.HasPrefix(k, "APPTAINER") || strings.HasPrefix(k, "SINGULARITY"):
		case slices.Contains(alwaysOmitted, k):
		case cleanEnv && !slices.Contains(alwaysForwarded, k):
		default:
			p.base[k] = v
		}
	}
	for k, v := range o.EnvFile {
		p.forced[k] = v
	}
	for k, v := range o.Env {
		if k == "PATH" {
			p.paths[k] = v
			continue
		}
		p.forced[k] = v
	}
	if cleanEnv {
		p.base["LANG"] = "C"
	}
	for k := range p.base {
		if usableName(k) {
			p.keep = append(p.keep, k)
		}
	}
	sort.Strings(p.keep)
	p.base["PATH"] = config.DefaultPath
	p.base["HOME"] = home
	p.base["PWD"] = cwd
	p.base["USER_PATH"] = strings.TrimPrefix(hostPath+":"+upstreamUserPathTail, ":")
	p.base["APPTAINER_COMMAND"] = o.Action.command()
	setBoth(p.base, "APPNAME", o.App)
	setBoth(p.base, "CONTAINER", o.Image)
	setBoth(p.base, "NAME", filepath.Base(o.Image))
	if o.InstanceName != "" {
		setBoth(p.base, "INSTANCE", o.InstanceName)
	}
	if len(o.Binds) > 0 {
		setBoth(p.base, "BIND", strings.Join(o.Binds, ","))
	}
	return p, msgs
}

// direct renders the plan for a process started without the action
// script (an image without /bin/sh): the forced values and PATH
// overrides are applied here, and nothing of the image's is read.
func (p envPlan) direct() []string {
	env := maps.Clone(p.base)
	maps.Copy(env, p.forced)
	if v := p.paths["PREPEND_PATH"]; v != "" {
		env["PATH"] = v + ":" + env["PATH"]
	}
	if v := p.paths["APPEND_PATH"]; v != "" {
		env["PATH"] += ":" + v
	}
	if v := p.paths["PATH"]; v != "" {
		env["PATH"] = v
	}
	return sortedEnv(env)
}

// forAction renders the plan for the action script (action.sh), which
// applies the forced values and PATH overrides after the image's scripts.
// A forced variable whose name the script cannot carry is set directly.
func (p envPlan) forAction(eval bool) []string {
	env := maps.Clone(p.base)
	var forced []string
	for k, v := range p.forced {
		if !usableName(k) {
			env[k] = v
			continue
		}
		forced = append(forced, k)
		if eval {
			v = escapeForEval(v)
		}
		env["__APPTAINER_FORCE_"+k] = v
	}
	sort.Strings(forced)
	env["__APPTAINER_KEEP"] = strings.Join(p.keep, " ")
	env["__APPTAINER_FORCE"] = strings.Join(forced, " ")
	k, v, _ := strings.Cut(actionMarker, "=")
	env[k] = v
	env["__APPTAINER_EVAL"] = ""
	if eval {
		env["__APPTAINER_EVAL"] = "1"
	} else {
		// As upstream: the runscript of an image built from an OCI image
		// reads it to run ENTRYPOINT, CMD and the arguments as they are.
		env["APPTAINER_NO_EVAL"], env["SINGULARITY_NO_EVAL"] = "1", "1"
	}
	for k, v := range p.paths {
		env["__APPTAINER_"+k] = v
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

// ParseEnvFile reads --env-file: one NAME=VALUE a line, optionally after
// "export ", with the value optionally in single or double quotes; blank
// lines and lines starting with # are skipped. name is for messages.
func ParseEnvFile(name, content string) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(content))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || !shellName.MatchString(k) {
			return nil, fmt.Errorf("%w: %s:%d: want NAME=VALUE, got %q", ErrInvalid, name, n, line)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vars[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
	}
	return vars, nil
}
