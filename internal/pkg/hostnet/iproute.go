package hostnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// IPv6 address labels and nexthop objects are read with iproute2's
// "ip -j" (JSON output): the netlink library this module uses
// (vishvananda/netlink v1.3.1, its latest release) has no support for
// either. Nexthop objects were merged into the library's main branch
// after that release, with a subset of the attributes (no groups); there
// is no maintained Go library for RTM_GETADDRLABEL at all. Going through
// ip keeps the decoding in the tool that defines how these objects are
// shown, at the cost of one exec, which runs on a thread of its own while
// the rest of the snapshot is taken.

// ipTool names iproute2's ip for the snapshot; found with lookTool.
const ipTool = "ip"

// ipCommands are the ip commands whose JSON output is recorded, in the
// order ipObjects returns them.
var ipCommands = []string{"addrlabel list", "nexthop show"}

// collectIPObjects records the address labels and the nexthop objects of
// the calling thread's network namespace. Both commands run in one
// "ip -batch"; if that fails, each runs alone so that one that the kernel
// cannot answer (no IPv6, no nexthop support) is recorded as unavailable,
// with ip's message, without losing the other. An ip that cannot be run
// at all is an error; a missing ip is recorded as unavailable.
func collectIPObjects(look func(string) string) (labels, nexthops *Objects, err error) {
	ip := look(ipTool)
	if ip == "" {
		why := "iproute2's ip was not found"
		return unavailableObjects(why), unavailableObjects(why), nil
	}
	outs := make([]json.RawMessage, len(ipCommands))
	whys := make([]string, len(ipCommands))
	stdout, _, runErr := runIP(ip, strings.Join(ipCommands, "\n")+"\n")
	if runErr == nil {
		runErr = decodeJSONValues(stdout, outs)
	}
	if runErr != nil {
		for i, c := range ipCommands {
			out, msg, err := runIP(ip, c+"\n")
			var exit *exec.ExitError
			switch {
			case errors.As(err, &exit):
				whys[i] = fmt.Sprintf("ip %s: %s", c, msg)
			case err != nil:
				return nil, nil, err
			default:
				if err := decodeJSONValues(out, outs[i:i+1]); err != nil {
					return nil, nil, fmt.Errorf("ip -j %s: %w", c, err)
				}
			}
		}
	}
	parse := []func(json.RawMessage) (*Objects, error){parseAddrLabels, parseNexthops}
	res := make([]*Objects, len(ipCommands))
	for i, c := range ipCommands {
		if whys[i] != "" {
			res[i] = unavailableObjects(whys[i])
			continue
		}
		if res[i], err = parse[i](outs[i]); err != nil {
			return nil, nil, fmt.Errorf("ip -j %s: %w", c, err)
		}
	}
	return res[0], res[1], nil
}

// runIP runs "ip -j -batch -" with script as its input and returns its
// standard output, and its standard error folded to one line. It runs
// from the calling thread, so it sees its network namespace.
func runIP(ip, script string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, "-j", "-batch", "-")
	cmd.Stdin = strings.NewReader(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	msg := strings.Join(strings.Fields(stderr.String()), " ")
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) || ctx.Err() != nil {
			return nil, msg, fmt.Errorf("failed to run %s -j -batch: %w: %s", ip, err, msg)
		}
		return nil, msg, err
	}
	return stdout.Bytes(), msg, nil
}

// decodeJSONValues decodes exactly len(into) JSON values from b.
func decodeJSONValues(b []byte, into []json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	for i := range into {
		if err := dec.Decode(&into[i]); err != nil {
			return fmt.Errorf("output %d of %d: %w", i+1, len(into), err)
		}
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("more output than the %d commands", len(into))
	}
	return nil
}

// parseAddrLabels reads "ip -j addrlabel list": the ID is the prefix and
// its link, the value the label: "prefix 2001:db8::/64 dev ib0" ->
// "label 99". The kernel's default labels (RFC 6724) are recorded too, so
// that removing one is seen.
func parseAddrLabels(raw json.RawMessage) (*Objects, error) {
	var labels []struct {
		Address   string `json:"address"`
		PrefixLen int    `json:"prefixlen"`
		Ifname    string `json:"ifname"`
		Label     int64  `json:"label"`
	}
	if err := json.Unmarshal(raw, &labels); err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(labels))
	for _, l := range labels {
		id := fmt.Sprintf("prefix %s/%d", l.Address, l.PrefixLen)
		if l.Ifname != "" {
			id += " dev " + l.Ifname
		}
		entries = append(entries, Entry{ID: id, Value: fmt.Sprintf("label %d", l.Label)})
	}
	return newObjects(entries), nil
}

// parseNexthops reads "ip -j nexthop show": the ID is "id N", the value
// the rest as ip prints it ("via 10.201.0.1 dev ib0 scope link proto
// static onlink", "group 1/2,3 type resilient buckets 8 ..."). Left out,
// because the kernel changes them by itself: the dead and linkdown flags,
// which follow the carrier of the nexthop's link (recorded with the
// link), and the time a resilient group has been unbalanced. Attributes
// this code does not know are kept, as "name <JSON>", so that they count.
func parseNexthops(raw json.RawMessage) (*Objects, error) {
	var nhs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &nhs); err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(nhs))
	for _, nh := range nhs {
		var id int64
		if err := json.Unmarshal(nh["id"], &id); err != nil {
			return nil, fmt.Errorf("nexthop without an id: %w", err)
		}
		value, err := nexthopValue(nh)
		if err != nil {
			return nil, fmt.Errorf("nexthop id %d: %w", id, err)
		}
		entries = append(entries, Entry{ID: fmt.Sprintf("id %d", id), Value: value})
	}
	return newObjects(entries), nil
}

// nexthopOrder is the order ip prints a nexthop's attributes in.
var nexthopOrder = []string{"group", "type", "resilient_args", "blackhole", "encap", "gateway", "dev", "scope", "protocol", "fdb", "flags"}

func nexthopValue(nh map[string]json.RawMessage) (string, error) {
	keys := make([]string, 0, len(nh))
	for k := range nh {
		if k != "id" {
			keys = append(keys, k)
		}
	}
	rank := func(k string) int {
		for i, o := range nexthopOrder {
			if o == k {
				return i
			}
		}
		return len(nexthopOrder)
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		v := nh[k]
		switch k {
		case "group":
			var group []struct {
				ID     int64  `json:"id"`
				Weight *int64 `json:"weight"`
			}
			if err := json.Unmarshal(v, &group); err != nil {
				return "", fmt.Errorf("group: %w", err)
			}
			members := make([]string, len(group))
			for i, m := range group {
				members[i] = strconv.FormatInt(m.ID, 10)
				if m.Weight != nil && *m.Weight != 1 {
					members[i] += "," + strconv.FormatInt(*m.Weight, 10)
				}
			}
			parts = append(parts, "group "+strings.Join(members, "/"))
		case "resilient_args":
			var args map[string]json.RawMessage
			if err := json.Unmarshal(v, &args); err != nil {
				return "", fmt.Errorf("resilient_args: %w", err)
			}
			delete(args, "unbalanced_time")
			names := make([]string, 0, len(args))
			for n := range args {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				parts = append(parts, n+" "+jsonScalar(args[n]))
			}
		case "flags":
			var flags []string
			if err := json.Unmarshal(v, &flags); err != nil {
				return "", fmt.Errorf("flags: %w", err)
			}
			for _, f := range flags {
				if f != "dead" && f != "linkdown" {
					parts = append(parts, f)
				}
			}
		default:
			if string(v) == "null" || string(v) == "true" {
				parts = append(parts, k) // a flag attribute: "blackhole", "fdb"
			} else {
				parts = append(parts, k+" "+jsonScalar(v))
			}
		}
	}
	return strings.Join(parts, " "), nil
}

// jsonScalar prints a JSON string without its quotes, anything else as
// compact JSON.
func jsonScalar(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		return b.String()
	}
	return string(v)
}
