package network

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

// confExtensions are the file types read from the configuration directory:
// .conflist holds a plugin chain, .conf and .json a single plugin.
var confExtensions = []string{".conf", ".conflist", ".json"}

// loadNetworks reads every configuration in dir and returns them in file
// name order. A file that does not parse is an error naming it, even when
// another file holds the network asked for: a broken file means the
// administrator's intent is unknown, and the order-dependent leniency of
// libcni's LoadConfList would make that depend on file names.
func loadNetworks(dir string) ([]*libcni.NetworkConfigList, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to read CNI configuration directory %q: %w", dir, err)
	}
	var lists []*libcni.NetworkConfigList
	for _, e := range entries { // os.ReadDir sorts by name
		if e.IsDir() || !slices.Contains(confExtensions, filepath.Ext(e.Name())) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		list, err := loadFile(path)
		if err != nil {
			return nil, fmt.Errorf("failed to load network configuration %q: %w", path, err)
		}
		lists = append(lists, list)
	}
	return lists, nil
}

// loadFile parses one configuration file; a single-plugin file is turned
// into a one-entry list so that callers see one shape.
func loadFile(path string) (*libcni.NetworkConfigList, error) {
	if filepath.Ext(path) == ".conflist" {
		return libcni.ConfListFromFile(path)
	}
	conf, err := libcni.ConfFromFile(path)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromConf(conf)
}

// findNetworks picks, for each requested name in order, the configuration
// whose "name" field matches (not the file name, as upstream). When two
// files declare the same name the first in file name order wins, as in
// libcni.
func findNetworks(dir string, lists []*libcni.NetworkConfigList, names []string) ([]*libcni.NetworkConfigList, error) {
	found := make([]*libcni.NetworkConfigList, 0, len(names))
	for _, name := range names {
		i := slices.IndexFunc(lists, func(l *libcni.NetworkConfigList) bool { return l.Name == name })
		if i < 0 {
			avail := availableNames(lists)
			if avail == "" {
				return nil, fmt.Errorf("no net configuration with name %q in %s (it holds no configuration)", name, dir)
			}
			return nil, fmt.Errorf("no net configuration with name %q in %s (available: %s)", name, dir, avail)
		}
		found = append(found, lists[i])
	}
	return found, nil
}

// availableNames lists the network names for error messages.
func availableNames(lists []*libcni.NetworkConfigList) string {
	names := make([]string, 0, len(lists))
	for _, l := range lists {
		names = append(names, l.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return strings.Join(names, ", ")
}

// declaredCapabilities merges the capabilities declared by every plugin of a
// list: libcni hands a capability argument to each plugin that declares it.
func declaredCapabilities(list *libcni.NetworkConfigList) map[string]bool {
	caps := make(map[string]bool)
	for _, p := range list.Plugins {
		for c, on := range p.Network.Capabilities {
			if on {
				caps[c] = true
			}
		}
	}
	return caps
}
