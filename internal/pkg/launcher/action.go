package launcher

import (
	_ "embed"
	"regexp"
	"slices"
	"strings"
)

// actionScript applies the image's environment in the container, then
// executes the container's command (see action.sh).
//
//go:embed action.sh
var actionScript string

// actionShell runs the action script: the image's own shell, so the
// image's environment scripts run where upstream runs them, inside.
const actionShell = "/bin/sh"

// actionMarker is in the environment rendered for the action script.
const actionMarker = "__APPTAINER_ACTION=1"

// actionArgv0 names the action script's shell in ps.
const actionArgv0 = "apptainer-action"

// withAction puts the action script in front of args.
func withAction(args []string) []string {
	return append([]string{actionShell, "-c", actionScript, actionArgv0}, args...)
}

// BehindAction returns the command the action script runs, when args
// start with the script (withAction), and whether they do.
func BehindAction(args []string) ([]string, bool) {
	if len(args) < 4 || args[0] != actionShell || args[1] != "-c" || args[3] != actionArgv0 {
		return args, false
	}
	return args[4:], true
}

// ForJoin is the command line and environment of a command that action
// joins to an instance whose process environment is instanceEnv: behind
// the action script when the instance's own process was (its environment
// was rendered for it), so that the joined command sees the image's
// environment as the instance does, with its own APPTAINER_COMMAND.
func ForJoin(action Action, instanceEnv, args []string) ([]string, []string) {
	if !slices.Contains(instanceEnv, actionMarker) {
		return instanceEnv, args
	}
	env := slices.Clone(instanceEnv)
	for i, kv := range env {
		if strings.HasPrefix(kv, "APPTAINER_COMMAND=") {
			env[i] = "APPTAINER_COMMAND=" + action.command()
		}
	}
	return env, withAction(args)
}

// shellName is a variable name the action script can handle.
var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// usableName: a variable the action script can carry, and not one of its
// own helpers.
func usableName(k string) bool {
	return shellName.MatchString(k) && !strings.HasPrefix(strings.ToUpper(k), "__APPTAINER")
}

// escapeForEval prepares a forced value for the action script's one
// evaluation inside double quotes, as upstream does: a double quote stays a
// double quote; a trailing odd backslash, which would swallow the closing
// quote, stays a backslash (upstream's parse fails there).
func escapeForEval(v string) string {
	v = strings.ReplaceAll(v, `"`, `\"`)
	trailing := len(v) - len(strings.TrimRight(v, `\`))
	if trailing%2 == 1 {
		v += `\`
	}
	return v
}
