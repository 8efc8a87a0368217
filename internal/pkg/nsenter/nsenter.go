// Package nsenter builds requests for apptainer-nsenter (cmd/apptainer-nsenter,
// C), which enters namespaces, something Go cannot do for a whole
// process, and then runs a program there. A process asks for it by
// running that binary with the variable returned by Env.
package nsenter

import (
	"strconv"
	"strings"
)

// EnvName is the variable apptainer-nsenter reads.
const EnvName = "_APPTAINER_NSENTER"

// order is the order namespaces are joined in, within each of the groups
// Env makes: the mount namespace last.
var order = []string{"user", "cgroup", "ipc", "uts", "net", "pid", "mnt"}

// Request names the namespace files to join, by type ("net", "mnt", …).
//
// Entering a user namespace gives the process every capability in it and
// none outside it. So the namespaces that the joined user namespace owns
// are joined after it (for an unprivileged caller, it is what grants the
// right to), and those it does not own before it: afterwards setns into
// them fails with EPERM. A user-namespaced instance on the host network
// has both kinds: its mount, PID, UTS, IPC and cgroup namespaces belong to
// its user namespace, its network namespace to the host's.
type Request struct {
	Paths map[string]string
	// Foreign marks the types in Paths whose namespace the joined user
	// namespace does not own. It only matters when Paths has "user".
	Foreign map[string]bool
	// Fork makes the joining process fork once more, so that the code that
	// runs is inside a joined PID namespace.
	Fork bool
	// Session, with Fork, makes the forked process the leader of a new
	// session, out of the caller's session and away from its controlling
	// terminal; a terminal among its descriptors 0 to 2 becomes its
	// controlling terminal. Never pass the caller's terminal with it.
	Session bool
	// ExecFD, when above 2, is an inherited file descriptor holding an
	// encoded Exec: apptainer-nsenter runs that program instead of its
	// own arguments, with exactly the credentials asked for.
	ExecFD int
	// CgroupProcs are the cgroup.procs files of the cgroups to join (the
	// cgroup2 one, and on a hybrid host those of the v1 hierarchies)
	// before any namespace: the joined process then counts against the
	// instance's limits and is killed with it.
	CgroupProcs []string
}

// Env returns the NAME=VALUE environment entry for r.
func Env(r Request) string {
	var parts []string
	if r.Fork {
		parts = append(parts, "fork")
		if r.Session {
			parts = append(parts, "session")
		}
	}
	if r.ExecFD > 2 {
		parts = append(parts, "exec="+strconv.Itoa(r.ExecFD))
	}
	for _, p := range r.CgroupProcs {
		parts = append(parts, "cgroup.procs="+p)
	}
	for _, t := range r.Order() {
		parts = append(parts, t+"="+r.Paths[t])
	}
	return EnvName + "=" + strings.Join(parts, ";")
}

// Order returns the types of r.Paths in the order they are joined: with a
// user namespace, the foreign ones, the user namespace, then the ones it
// owns; each group in the order of the variable order.
func (r Request) Order() []string {
	var foreign, owned []string
	_, user := r.Paths["user"]
	for _, t := range order {
		if _, ok := r.Paths[t]; !ok || t == "user" {
			continue
		}
		if user && r.Foreign[t] {
			foreign = append(foreign, t)
		} else {
			owned = append(owned, t)
		}
	}
	if user {
		foreign = append(foreign, "user")
	}
	return append(foreign, owned...)
}

// ForPID asks to join every namespace of process pid that differs from the
// caller's, and to fork into its PID namespace. foreign reports the types
// whose namespace pid's user namespace does not own (nil: none).
func ForPID(pid int, same, foreign func(nsType string) bool) Request {
	r := Request{Paths: map[string]string{}, Foreign: map[string]bool{}, Fork: true}
	for _, t := range order {
		if same != nil && same(t) {
			continue
		}
		r.Paths[t] = procNS(pid, t)
		if foreign != nil && t != "user" && foreign(t) {
			r.Foreign[t] = true
		}
	}
	return r
}

func procNS(pid int, t string) string {
	return "/proc/" + strconv.Itoa(pid) + "/ns/" + t
}
