// Package network attaches a container's network namespace to CNI networks
// configured by the administrator, the way upstream Apptainer does for --net,
// --network and --network-args, on top of libcni.
//
// The API is small:
//
//   - ParseArgs reads --network-args (pure).
//   - New loads the requested networks by their "name" field and checks the
//     arguments against them; Setup.Add attaches a netns (eth0, eth1, … in
//     request order) and Setup.Del detaches it. Add leaves nothing behind
//     when it fails.
//   - Result.Attachments record what was attached, as JSON, so that Detach
//     can undo it from another process, with the configuration that was
//     used even if the administrator edited the file since.
//   - CheckNetnsPath, CheckNetnsPermission and CheckNetworksPermission are
//     the checks of --netns-path and of non-root network use.
//
// Plugins run in the caller's network namespace (the "host" side; CNI_NETNS
// names the container's), with an explicit environment: nothing of the
// process environment is passed to them, and it is never changed. CHECK is
// never called: the portmap plugin of Debian's containernetworking-plugins
// 1.1.1 fails it for IPv4-only networks. A Setup does not change after New
// and may be used from several goroutines.
package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/utils"
)

// DefaultTimeout bounds the ADD or DEL of one network (all plugins of its
// list) when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// NoneNetwork is the network name meaning "a new namespace with only lo".
// It involves no CNI and cannot be combined with other networks.
const NoneNetwork = "none"

// IsNone reports whether networks is just NoneNetwork.
func IsNone(networks []string) bool { return len(networks) == 1 && networks[0] == NoneNetwork }

// Config says where CNI configurations, plugins and state live.
type Config struct {
	// ConfDir is the "cni configuration path" holding .conflist, .conf
	// and .json files.
	ConfDir string
	// PluginDirs are searched in order for plugin binaries; they are
	// also handed to plugins as CNI_PATH to find delegates (IPAM).
	PluginDirs []string
	// CacheDir is libcni's cache of ADD results, which DEL reads back.
	// Empty means libcni's default, /var/lib/cni.
	CacheDir string
	// Timeout bounds the ADD or DEL of one network; zero means
	// DefaultTimeout. Plugins still running then are killed.
	Timeout time.Duration
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c Config) cni(ex *pluginExec) *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(c.PluginDirs, c.CacheDir, ex)
}

// Setup is a checked request to attach a container to some networks.
type Setup struct {
	cfg  Config
	nets []netSpec
}

type netSpec struct {
	list *libcni.NetworkConfigList
	args Args
}

// New loads each requested network from cfg.ConfDir by its "name" field and
// applies the --network-args values to them. An unknown name is an error
// listing the names available. The single name "none" gives a Setup whose
// Add and Del do nothing; its arguments are ignored, as upstream does.
func New(cfg Config, networks []string, args []string) (*Setup, error) {
	if len(networks) == 0 {
		return nil, errors.New("no network requested")
	}
	if slices.Contains(networks, "") {
		return nil, errors.New("empty network name in --network option")
	}
	if slices.Contains(networks, NoneNetwork) {
		if len(networks) > 1 {
			return nil, fmt.Errorf("network %s cannot be combined with other networks", NoneNetwork)
		}
		return &Setup{cfg: cfg}, nil
	}
	if cfg.ConfDir == "" {
		return nil, errors.New("no CNI configuration path provided")
	}
	if len(cfg.PluginDirs) == 0 {
		return nil, errors.New("no CNI plugin path provided")
	}
	parsed, err := ParseArgs(networks, args)
	if err != nil {
		return nil, err
	}
	all, err := loadNetworks(cfg.ConfDir)
	if err != nil {
		return nil, err
	}
	lists, err := findNetworks(cfg.ConfDir, all, networks)
	if err != nil {
		return nil, err
	}
	s := &Setup{cfg: cfg}
	for i, list := range lists {
		a := parsed[networks[i]]
		if err := checkCapabilities(networks[i], declaredCapabilities(list), a); err != nil {
			return nil, err
		}
		s.nets = append(s.nets, netSpec{list: list, args: a})
	}
	return s, nil
}

// Networks returns the names of the networks to attach, in order; it is
// empty for "none".
func (s *Setup) Networks() []string {
	names := make([]string, 0, len(s.nets))
	for _, n := range s.nets {
		names = append(names, n.list.Name)
	}
	return names
}

// Add attaches the network namespace at netnsPath to every network, as
// eth0, eth1, … in request order. containerID identifies the attachment to
// the plugins (IPAM leases, iptables chains) and must be given again to Del.
//
// When a network fails, it and every network added before it are deleted
// again, in reverse order, and an *AddError carrying the plugin's message is
// returned. That cleanup runs even if ctx is already done.
func (s *Setup) Add(ctx context.Context, containerID, netnsPath string) (*Result, error) {
	res := &Result{}
	if len(s.nets) == 0 {
		return res, nil
	}
	if err := checkIDs(containerID, netnsPath); err != nil {
		return nil, err
	}
	atts := s.attachments(containerID, netnsPath)
	for i := range atts {
		if err := s.addOne(ctx, s.nets[i].list, &atts[i]); err != nil {
			// The failing network is deleted as well: its first
			// plugins may already hold a veth, a lease or rules.
			cleanup := Detach(context.WithoutCancel(ctx), s.cfg, atts[:i+1])
			return nil, &AddError{Network: atts[i].Network, IfName: atts[i].IfName, Err: err, Cleanup: cleanup}
		}
	}
	res.Attachments = atts
	res.IP = firstIP(atts[0].IPs)
	return res, nil
}

// addOne adds one network and records its result in att, including the
// partial result of the plugins that succeeded when a later one fails.
func (s *Setup) addOne(ctx context.Context, list *libcni.NetworkConfigList, att *Attachment) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	ex := &pluginExec{}
	r, err := s.cfg.cni(ex).AddNetworkList(ctx, list, att.runtimeConf())
	if err != nil {
		att.Result = ex.lastAdd
		if ctxErr := ctx.Err(); ctxErr != nil {
			// The plugin's own message is only "signal: killed".
			return fmt.Errorf("%w: %w", err, ctxErr)
		}
		return err
	}
	if att.Result, err = json.Marshal(r); err != nil {
		return fmt.Errorf("failed to record the plugins' result: %w", err)
	}
	att.IPs, att.MAC, err = addresses(r, att.IfName)
	return err
}

// Del detaches the network namespace from every network of the Setup, in
// reverse order. containerID and netnsPath must be those given to Add. Every
// network and every plugin is attempted; the errors are joined. They are
// worth logging but rarely mean something was left behind. Del finds the
// results of Add in libcni's cache; Detach also works without it.
func (s *Setup) Del(ctx context.Context, containerID, netnsPath string) error {
	if len(s.nets) == 0 {
		return nil
	}
	if err := checkIDs(containerID, netnsPath); err != nil {
		return err
	}
	return Detach(ctx, s.cfg, s.attachments(containerID, netnsPath))
}

// checkIDs refuses what libcni would only refuse on ADD: a DEL with an
// empty container ID would ask IPAM to release the wrong leases.
func checkIDs(containerID, netnsPath string) error {
	if err := utils.ValidateContainerID(containerID); err != nil {
		return fmt.Errorf("invalid container ID %q: %w", containerID, err)
	}
	if netnsPath == "" {
		return errors.New("no network namespace path given")
	}
	return nil
}

// attachments describes what Add does for each network.
func (s *Setup) attachments(containerID, netnsPath string) []Attachment {
	atts := make([]Attachment, 0, len(s.nets))
	for i, n := range s.nets {
		// Plugins refuse CNI_ARGS keys they do not know unless told
		// otherwise; IP= is for IPAM but reaches the main plugin too.
		args := append([][2]string{{"IgnoreUnknown", "1"}}, n.args.CNIArgs...)
		atts = append(atts, Attachment{
			Network:        n.list.Name,
			IfName:         fmt.Sprintf("eth%d", i),
			ContainerID:    containerID,
			NetNS:          netnsPath,
			Args:           args,
			CapabilityArgs: capabilityArgs(n.args),
			Config:         n.list.Bytes,
		})
	}
	return atts
}

// AddError is returned by Add when a network could not be added. Cleanup
// holds the errors of deleting what had been added, for logging only: a DEL
// that follows a failed ADD often fails on a rule that was never made.
type AddError struct {
	Network string
	IfName  string
	Err     error
	Cleanup error
}

func (e *AddError) Error() string {
	return fmt.Sprintf("failed to add network %q (%s): %v", e.Network, e.IfName, e.Err)
}

func (e *AddError) Unwrap() error { return e.Err }
