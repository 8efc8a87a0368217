package launcher

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/bind"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"github.com/apptainer/apptainer/internal/pkg/subid"
)

// SubIDs are the caller's subordinate ids in /etc/subuid or /etc/subgid
// as the CLI found them (subid.Lookup): Err when none is usable, which
// wraps subid.ErrNoEntry when the caller has no entry at all.
type SubIDs struct {
	Range subid.Range
	Err   error
}

// usernsPlan is how a container uses a user namespace of its own, one
// the stage is cloned into and builds the root in (config.Unprivileged):
// an ordinary user's always; root's with --userns or --fakeroot.
type usernsPlan struct {
	own bool
	// explicit is --userns or --fakeroot: asked for, not implied.
	explicit bool
	// fakeroot runs the container's process as the namespace's root.
	fakeroot       bool
	uidMap, gidMap []config.IDMap
	helpers        bool
}

// decideUserNS decides the user namespace from --userns, --fakeroot, the
// caller and its subordinate ids, as upstream's non-setuid mode: with
// --fakeroot the container's root is the caller and ids 1.. its
// subordinate ids (written by newuidmap and newgidmap for a user); a user
// with no entry in /etc/subuid gets a namespace where only its own ids
// are mapped, to root ("root-mapped", unshare -r); root must have an
// entry. Root's --userns maps root to itself alone.
func decideUserNS(o Options, conf *apptainerconf.File, h Host) (usernsPlan, []Message, error) {
	p := usernsPlan{own: h.UID != 0 || o.UserNS || o.Fakeroot, explicit: o.UserNS || o.Fakeroot}
	if p.own && !conf.AllowUserNs {
		if p.explicit {
			return p, nil, fmt.Errorf("%w: User namespace required but not allowed by configuration.", ErrPermission)
		}
		return p, nil, fmt.Errorf("%w: Unprivileged installation found, user namespace needed but not allowed by configuration.", ErrPermission)
	}
	if !o.Fakeroot {
		if h.UID == 0 && o.UserNS {
			p.uidMap, p.gidMap = selfMap(0), selfMap(0)
		}
		return p, nil, nil
	}
	if err := checkFakeroot(o, h); err != nil {
		return p, nil, err
	}
	p.fakeroot = true
	var msgs []Message
	uid, gid := uint32(h.UID), uint32(h.GID)
	switch {
	case h.UID != 0 && errors.Is(h.SubUID.Err, subid.ErrNoEntry):
		msgs = append(msgs, Message{Info, fmt.Sprintf("User not listed in %s, trying root-mapped namespace", subid.UIDFile)})
		p.uidMap = []config.IDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		p.gidMap = []config.IDMap{{ContainerID: 0, HostID: gid, Size: 1}}
		return p, msgs, nil
	case h.SubUID.Err != nil:
		return p, nil, fmt.Errorf("%w: could not use fakeroot: %w", ErrPermission, h.SubUID.Err)
	case h.SubGID.Err != nil:
		return p, nil, fmt.Errorf("%w: could not use fakeroot: %w", ErrPermission, h.SubGID.Err)
	}
	p.uidMap = rootWithRange(uid, h.SubUID.Range)
	p.gidMap = rootWithRange(gid, h.SubGID.Range)
	// Root may write any map itself; a user only its own ids.
	p.helpers = h.UID != 0
	return p, msgs, nil
}

// checkFakeroot refuses what --fakeroot cannot be combined with in this
// build.
func checkFakeroot(o Options, h Host) error {
	switch {
	case h.UID == 0 && o.Boot:
		// Root's booted instances get a user namespace of their own
		// from the runtime's id ranges (boot hostnet userns).
		return fmt.Errorf("%w: in this build, --userns and --fakeroot cannot be combined with --boot for root (root's --boot-hostnet instances run in a user namespace of their own; see boot hostnet userns)", ErrInvalid)
	case o.Net || o.NetnsPath != "":
		// Upstream gives a fakeroot container the "fakeroot" CNI
		// network, set up by the setuid starter; this build has none.
		return fmt.Errorf("%w: --fakeroot cannot be combined with --net, --network or --netns-path in this build (the fakeroot CNI network needs a setuid installation)", ErrInvalid)
	}
	return nil
}

// selfMap maps id to itself alone.
func selfMap(id uint32) []config.IDMap {
	return []config.IDMap{{ContainerID: id, HostID: id, Size: 1}}
}

// rootWithRange maps root to id and 1.. to the subordinate range r.
func rootWithRange(id uint32, r subid.Range) []config.IDMap {
	return []config.IDMap{{ContainerID: 0, HostID: id, Size: 1}, {ContainerID: 1, HostID: r.Start, Size: r.Count}}
}

// check refuses what a container in a user namespace of its own cannot
// have in this build (checkUnprivileged).
func (p usernsPlan) check(o Options, h Host, userBinds []bind.Spec) error {
	if !p.own {
		return nil
	}
	return checkUnprivileged(o, h, userBinds)
}

// apply puts the plan into c: the namespace, its maps, and for --fakeroot
// the container's process as its root, whose working directory follows
// the home directory to /root.
func (p usernsPlan) apply(c *config.Config, o Options, h Host, contain bool, home string) {
	c.Unprivileged = p.own
	c.UIDMap, c.GIDMap, c.MapHelpers = p.uidMap, p.gidMap, p.helpers
	if !p.fakeroot {
		return
	}
	c.Spec.Process.User.UID, c.Spec.Process.User.GID = 0, 0
	if o.Home == "" && !contain && o.Cwd == "" {
		c.Spec.Process.Cwd = underHome(c.Spec.Process.Cwd, h.HomeDir, home)
	}
}

// underHome is where the host directory cwd is in the container when the
// home directory src is bound at dest (--fakeroot's /root): a directory
// outside src is left as it is.
func underHome(cwd, src, dest string) string {
	if src == "" || src == "/" {
		return cwd
	}
	rel, err := filepath.Rel(src, cwd)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return cwd
	}
	return filepath.Join(dest, rel)
}
