package launcher

import (
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/network"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// namespaces is the launcher's working view of which namespaces to create
// (or join), before it becomes the spec's list.
type namespaces struct {
	PID, IPC, UTS, Net, User bool
	NetnsPath                string
	// LoopbackOnly makes the default network of a new network namespace
	// "none" instead of "bridge" (an ordinary user's booted instance).
	LoopbackOnly bool
}

// networkPlan is what setNamespaces decided about networking.
type networkPlan struct {
	// Networks are the CNI networks of a new network namespace ("none"
	// means loopback only); empty when there is no new one.
	Networks []string
	Args     []string
}

// setNamespaces turns the namespace and network flags into the spec's
// namespace list and the CNI plan, following upstream's order: --network and
// --network-args imply --net, --net without --network means the "bridge"
// network, and a --netns-path wins over a new namespace (with a warning).
//
// A booted instance on the host network (--boot-hostnet) gets no network
// entry at all: the instance stays in the caller's network namespace and no
// CNI network, default or not, is set up. The conflicting flags were refused
// before this point (checkBootHostnet).
func setNamespaces(o Options, ns namespaces) ([]specs.LinuxNamespace, networkPlan, []Message) {
	var msgs []Message
	var plan networkPlan
	list := []specs.LinuxNamespace{{Type: specs.MountNamespace}}

	if !o.BootHostnet {
		networks := splitList(o.Network)
		if !ns.Net && len(networks) > 0 {
			msgs = append(msgs, Message{Info, "Setting --net (required by --network)"})
			ns.Net = true
		}
		if !ns.Net && len(o.NetworkArgs) > 0 {
			msgs = append(msgs, Message{Info, "Setting --net (required by --network-args)"})
			ns.Net = true
		}
		if ns.Net {
			switch {
			case len(networks) > 0:
			case ns.LoopbackOnly:
				networks = []string{network.NoneNetwork}
			default:
				networks = []string{"bridge"}
			}
			if ns.NetnsPath != "" {
				msgs = append(msgs, Message{Warning, "cannot join existing --netns-path and create a new network namespace with --net/-n"})
			} else {
				plan = networkPlan{Networks: networks, Args: o.NetworkArgs}
				list = append(list, specs.LinuxNamespace{Type: specs.NetworkNamespace})
			}
		}
		if ns.NetnsPath != "" {
			list = append(list, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: ns.NetnsPath})
		}
	}
	if ns.UTS {
		list = append(list, specs.LinuxNamespace{Type: specs.UTSNamespace})
	}
	if ns.PID {
		list = append(list, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}
	if ns.IPC {
		list = append(list, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}
	return list, plan, msgs
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// hasNetNamespace reports whether the list creates a new network namespace.
func newNetNamespace(list []specs.LinuxNamespace) bool {
	for _, ns := range list {
		if ns.Type == specs.NetworkNamespace && ns.Path == "" {
			return true
		}
	}
	return false
}
