package network

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Caller is the user asking for network access.
type Caller struct {
	UID    int
	User   string
	GIDs   []int
	Groups []string
}

// Allow holds the network allow-lists of apptainer.conf. Users and groups
// may be given by name or by number.
type Allow struct {
	NetUsers    []string // allow net users
	NetGroups   []string // allow net groups
	NetNetworks []string // allow net networks
	NetnsPaths  []string // allow netns paths
}

// PermissionError is a refusal by the apptainer.conf allow-lists.
type PermissionError struct {
	msg string
	// Denied lists the requested networks missing from
	// "allow net networks".
	Denied []string
}

func (e *PermissionError) Error() string { return e.msg }

// DeniedMessages returns one line per network in Denied, worded as upstream
// logs them (as errors) before the refusal itself.
func (e *PermissionError) DeniedMessages() []string {
	lines := make([]string, 0, len(e.Denied))
	for _, n := range e.Denied {
		lines = append(lines, fmt.Sprintf("Network %s is not permitted for unprivileged users.", n))
	}
	return lines
}

// errNetworkNotPermitted is upstream's refusal of CNI for a non-root user.
const errNetworkNotPermitted = "network requires root or a suid installation with /etc/subuid --fakeroot; non-root users can only use --network=none unless permitted by the administrator"

// CheckNetnsPermission decides whether a caller may join the network
// namespace at path (--netns-path). Root always may. Anyone else needs the
// path listed exactly in "allow netns paths" and to be listed in "allow net
// users" or "allow net groups"; the path is checked first, as upstream
// does. Messages are upstream's, "singularity.conf" included.
func CheckNetnsPermission(path string, c Caller, a Allow) error {
	if c.UID == 0 {
		return nil
	}
	if !slices.Contains(trimmed(a.NetnsPaths), path) {
		return &PermissionError{msg: fmt.Sprintf(`"%s" is not an allowed netns path in singularity.conf`, path)}
	}
	if !a.Permits(c) {
		return &PermissionError{msg: "you are not permitted to join network namespaces in apptainer.conf"}
	}
	return nil
}

// CheckNetworksPermission decides whether a caller may attach a new network
// namespace to CNI networks. Root always may, and anyone may use "none".
// Anyone else must be listed in "allow net users" or "allow net groups",
// and every network must be in "allow net networks"; one network refused
// refuses the request. It applies to the setuid flow without --fakeroot (a
// fakeroot caller is moved to the "fakeroot" network instead).
func CheckNetworksPermission(networks []string, c Caller, a Allow) error {
	if c.UID == 0 || len(networks) == 0 || IsNone(networks) {
		return nil
	}
	if !a.Permits(c) {
		return &PermissionError{msg: errNetworkNotPermitted}
	}
	allowed := trimmed(a.NetNetworks)
	var denied []string
	for _, n := range networks {
		if !slices.Contains(allowed, n) {
			denied = append(denied, n)
		}
	}
	if len(denied) > 0 {
		return &PermissionError{msg: errNetworkNotPermitted, Denied: denied}
	}
	return nil
}

// Permits says whether the caller is in "allow net users" or "allow net
// groups".
func (a Allow) Permits(c Caller) bool {
	for _, u := range trimmed(a.NetUsers) {
		if (u != "" && u == c.User) || isID(u, c.UID) {
			return true
		}
	}
	for _, g := range trimmed(a.NetGroups) {
		if g != "" && slices.Contains(c.Groups, g) {
			return true
		}
		for _, gid := range c.GIDs {
			if isID(g, gid) {
				return true
			}
		}
	}
	return false
}

// isID says whether a list entry is the number id.
func isID(entry string, id int) bool {
	n, err := strconv.Atoi(entry)
	return err == nil && n == id
}

// trimmed drops the blanks around list entries; apptainer.conf lists are
// comma-separated and admins write "a, b".
func trimmed(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}
