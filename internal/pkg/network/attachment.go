package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// Result is what Add attached.
type Result struct {
	// IP is the first network's first IPv4 address, or its first IPv6
	// address when it has none, without prefix length; empty when the
	// network gave no address. It is what instance files record.
	IP string `json:"ip,omitempty"`
	// Attachments are in the order of Add; pass them to Detach.
	Attachments []Attachment `json:"attachments"`
}

// Attachment is one network attached to a container: everything a DEL
// needs, so that it does not depend on the configuration directory still
// holding the same file (CNI requires DEL to get the configuration ADD got).
type Attachment struct {
	Network        string         `json:"network"`
	IfName         string         `json:"ifName"`
	ContainerID    string         `json:"containerID"`
	NetNS          string         `json:"netns"`
	Args           [][2]string    `json:"args,omitempty"`
	CapabilityArgs map[string]any `json:"capabilityArgs,omitempty"`
	// Config is the network configuration list as ADD used it.
	Config json.RawMessage `json:"config"`
	// Result is what the plugins returned to ADD. DEL hands it to them
	// as prevResult when libcni's cache does not hold it: after a failed
	// ADD (libcni caches only complete chains), or when the cache
	// directory was lost. Without it the firewall plugin cannot tell
	// which rules to remove.
	Result json.RawMessage `json:"result,omitempty"`
	// IPs are the container's addresses in CIDR form and MAC the MAC of
	// IfName, as the plugins reported them.
	IPs []string `json:"ips,omitempty"`
	MAC string   `json:"mac,omitempty"`
}

func (a *Attachment) runtimeConf() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID:    a.ContainerID,
		NetNS:          a.NetNS,
		IfName:         a.IfName,
		Args:           a.Args,
		CapabilityArgs: a.CapabilityArgs,
	}
}

// Detach deletes attachments in reverse order, as Setup.Del does, from a
// recorded Result. Every attachment and every plugin of each is attempted,
// even when an earlier one fails or its binary is gone; the errors are
// joined, each naming its network.
//
// The attachments choose which plugins run, with which configuration, with
// the caller's privileges: they must come from storage that only the
// privileged side can write, never from a file the user owns.
func Detach(ctx context.Context, cfg Config, atts []Attachment) error {
	var errs []error
	for i := len(atts) - 1; i >= 0; i-- {
		if err := detachOne(ctx, cfg, &atts[i]); err != nil {
			errs = append(errs, fmt.Errorf("failed to delete network %q (%s): %w", atts[i].Network, atts[i].IfName, err))
		}
	}
	return errors.Join(errs...)
}

func detachOne(ctx context.Context, cfg Config, att *Attachment) error {
	list, err := libcni.ConfListFromBytes(att.Config)
	if err != nil {
		return fmt.Errorf("failed to read its recorded configuration: %w", err)
	}
	if len(att.Result) > 0 {
		if list, err = withPrevResult(list, att.Result); err != nil {
			return err
		}
	}
	list, errs := withoutMissingPlugins(list, cfg.PluginDirs)
	ex := &pluginExec{keepGoing: true}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	if err := cfg.cni(ex).DelNetworkList(ctx, list, att.runtimeConf()); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, ex.failures...)
	if len(errs) > 0 && ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// withPrevResult returns a copy of list whose plugins carry result as
// prevResult. libcni replaces it with its cached result when it has one and
// leaves it alone otherwise.
func withPrevResult(list *libcni.NetworkConfigList, result json.RawMessage) (*libcni.NetworkConfigList, error) {
	out := *list
	out.Plugins = make([]*libcni.NetworkConfig, 0, len(list.Plugins))
	for _, p := range list.Plugins {
		withResult, err := libcni.InjectConf(p, map[string]any{"prevResult": result})
		if err != nil {
			return nil, fmt.Errorf("failed to pass the recorded result to plugin type=%q: %w", p.Network.Type, err)
		}
		out.Plugins = append(out.Plugins, withResult)
	}
	return &out, nil
}

// addresses reads the container side of a plugin chain's result: the
// addresses on interfaces inside the sandbox (or not tied to an interface)
// and the MAC of ifName.
func addresses(r types.Result, ifName string) (ips []string, mac string, err error) {
	res, err := types100.NewResultFromResult(r)
	if err != nil {
		return nil, "", fmt.Errorf("failed to read the plugins' result: %w", err)
	}
	inSandbox := func(idx *int) bool {
		switch {
		case idx == nil:
			return true
		case *idx < 0 || *idx >= len(res.Interfaces):
			return false
		}
		return res.Interfaces[*idx].Sandbox != ""
	}
	for _, ip := range res.IPs {
		if inSandbox(ip.Interface) {
			ips = append(ips, ip.Address.String())
		}
	}
	for _, iface := range res.Interfaces {
		if iface.Sandbox != "" && iface.Name == ifName {
			mac = iface.Mac
		}
	}
	return ips, mac, nil
}

// firstIP picks the address shown for an instance: IPv4 first, as upstream.
func firstIP(cidrs []string) string {
	var v6 string
	for _, c := range cidrs {
		ip, _, err := net.ParseCIDR(c)
		if err != nil {
			continue
		}
		if ip.To4() != nil {
			return ip.String()
		}
		if v6 == "" {
			v6 = ip.String()
		}
	}
	return v6
}
