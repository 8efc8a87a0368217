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

// order is the order namespaces are joined in: the user namespace first
// (it grants the rights to join the others it owns), the mount namespace
// last.
var order = []string{"user", "cgroup", "ipc", "uts", "net", "pid", "mnt"}

// Request names the namespace files to join, by type ("net", "mnt", …).
type Request struct {
	Paths map[string]string
	// Fork makes the joining process fork once more, so that the code that
	// runs is inside a joined PID namespace.
	Fork bool
	// ExecFD, when above 2, is an inherited file descriptor holding an
	// encoded Exec: apptainer-nsenter runs that program instead of its
	// own arguments, with exactly the credentials asked for.
	ExecFD int
}

// Env returns the NAME=VALUE environment entry for r.
func Env(r Request) string {
	var parts []string
	if r.Fork {
		parts = append(parts, "fork")
	}
	if r.ExecFD > 2 {
		parts = append(parts, "exec="+strconv.Itoa(r.ExecFD))
	}
	for _, t := range order {
		if p, ok := r.Paths[t]; ok {
			parts = append(parts, t+"="+p)
		}
	}
	return EnvName + "=" + strings.Join(parts, ";")
}

// ForPID asks to join every namespace of process pid that differs from the
// caller's, and to fork into its PID namespace.
func ForPID(pid int, same func(nsType string) bool) Request {
	r := Request{Paths: map[string]string{}, Fork: true}
	for _, t := range order {
		if same != nil && same(t) {
			continue
		}
		r.Paths[t] = procNS(pid, t)
	}
	return r
}

func procNS(pid int, t string) string {
	return "/proc/" + strconv.Itoa(pid) + "/ns/" + t
}
