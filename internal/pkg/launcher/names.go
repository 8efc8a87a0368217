package launcher

import (
	"fmt"
	"path/filepath"

	"github.com/apptainer/apptainer/internal/pkg/instance"
)

// Limits of the paths the runtime builds from an instance name.
const (
	// sunPathMax is the size of sockaddr_un's sun_path, NUL included.
	sunPathMax = 108
	// nameMax is NAME_MAX: the longest file name, in bytes.
	nameMax = 255
	// nameFileExtra is how much longer than the instance name the longest
	// file name made from it is: the temporary copy of the instance file,
	// ".NAME.json.tmp-" and up to 13 base-36 digits (instance.Paths.Write).
	// The logs, NAME.out, NAME.err and NAME.hostnet.json, are shorter.
	nameFileExtra = len(".") + len(".json") + len(".tmp-") + 13
	// notifySocket is where a booted instance's notify socket lives in
	// its runtime directory, PARENT/NAME (the monitor's runDir and
	// listenNotify; PARENT is RunParent's).
	notifySocket = "host/notify"
)

// MaxInstanceName returns the longest instance name that may be given:
// every file name made from it must fit in NAME_MAX and, for a booted
// instance, the path of its notify socket in its runtime directory below
// runParent (RunParent) in sun_path. why says which limit decides, for
// messages. An empty runParent skips the socket.
func MaxInstanceName(runParent string, boot bool) (n int, why string) {
	n = nameMax - nameFileExtra
	why = fmt.Sprintf("file names made from it, such as .NAME.json.tmp-XXXXXXXXXXXXX, must fit in %d bytes", nameMax)
	if boot && runParent != "" {
		// PARENT/ NAME /host/notify, plus the NUL.
		fixed := len(filepath.Clean(runParent)) + len("/") + len("/"+notifySocket) + 1
		if s := sunPathMax - fixed; s < n {
			n = s
			why = fmt.Sprintf("the path of its notify socket, %s, must fit in a Unix socket address (%d bytes)",
				filepath.Join(runParent, "NAME", notifySocket), sunPathMax-1)
		}
	}
	return n, why
}

// RunParent is the directory that holds the runtime directories of h's
// user's instances: root's are below the runtime's run directory
// (RunRoot/instances/root), where the runtime keeps the records it
// trusts; an ordinary user's are in the user's configuration directory
// (instance.Paths.RunParent), as the rest of a user's instance state is.
// Empty when unknown (no RunRoot given for root).
func RunParent(h Host) string {
	if h.UID != 0 {
		return instance.Paths{ConfigDir: h.ConfigDir, Hostname: h.Hostname}.RunParent()
	}
	if h.RunRoot == "" {
		return ""
	}
	return filepath.Join(h.RunRoot, "instances", h.User)
}

// checkInstanceName refuses an instance name too long for the paths the
// runtime will build from it, before anything is created. Without this the
// start fails half-way: binding the notify socket ("bind: invalid
// argument") or opening the logs ("file name too long").
func checkInstanceName(o Options, h Host) error {
	if !o.startsInstance() {
		return nil
	}
	// A user's notify socket is bound through its directory's descriptor
	// (engine's listenNotify), whatever the length of its path.
	parent := ""
	if h.UID == 0 {
		parent = RunParent(h)
	}
	max, why := MaxInstanceName(parent, o.Boot)
	if len(o.InstanceName) <= max {
		return nil
	}
	what := "an instance"
	if o.Boot {
		what = "a booted instance"
	}
	return fmt.Errorf("%w: instance name too long (%d characters): at most %d characters for %s (%s)",
		ErrInvalid, len(o.InstanceName), max, what, why)
}
