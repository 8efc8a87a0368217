package network

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// These tests run the real plugins of /usr/lib/cni on the shipped
// configurations. They only run as root inside the throwaway "host"
// namespace set up by TestMain; each "container" is a process of its own
// network namespace, killed when the test ends.

const pluginDir = "/usr/lib/cni"

func requireThrowawayHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if !inThrowawayNetns() {
		t.Skip("not running inside a throwaway network namespace (unshare missing?)")
	}
	for _, p := range []string{"bridge", "ptp", "macvlan", "ipvlan", "host-local", "static", "firewall", "portmap"} {
		if _, err := os.Stat(filepath.Join(pluginDir, p)); err != nil {
			t.Skipf("CNI plugin %s not installed: %v", p, err)
		}
	}
	if _, err := exec.LookPath("/usr/sbin/iptables"); err != nil {
		t.Skip("iptables not installed")
	}
}

// startContainer starts the container helper in a new network namespace
// and returns the path of that namespace.
func startContainer(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--net", "--", self)
	cmd.Env = append(os.Environ(), envHelper+"=container")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start the container helper: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "ready\n" {
			t.Fatalf("container helper said %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("container helper did not get ready")
	}
	return fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
}

// shippedConfig copies etc/network and the extra configurations into a
// temporary directory, pointing host-local's dataDir at a temporary
// directory too, and returns a Config using them and that directory.
func shippedConfig(t *testing.T, extra map[string]string) (Config, string) {
	t.Helper()
	conf, ipam := t.TempDir(), t.TempDir()
	files, err := filepath.Glob("../../../etc/network/*.conflist")
	if err != nil || len(files) == 0 {
		t.Fatalf("shipped configurations not found: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeConf(t, conf, filepath.Base(f), withDataDir(t, b, ipam))
	}
	for name, content := range extra {
		writeConf(t, conf, name, withDataDir(t, []byte(content), ipam))
	}
	return Config{ConfDir: conf, PluginDirs: []string{pluginDir}, CacheDir: t.TempDir()}, ipam
}

func withDataDir(t *testing.T, conflist []byte, dir string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conflist, &m); err != nil {
		t.Fatal(err)
	}
	for _, p := range m["plugins"].([]any) {
		if ipam, ok := p.(map[string]any)["ipam"].(map[string]any); ok && ipam["type"] == "host-local" {
			ipam["dataDir"] = dir
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// brokenBridge is the shipped bridge network under another name, edited by
// edit.
func brokenBridge(t *testing.T, name string, edit func(plugins []any) []any) string {
	t.Helper()
	b, err := os.ReadFile("../../../etc/network/00_bridge.conflist")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["name"] = name
	m["plugins"] = edit(m["plugins"].([]any))
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// fakeUplink adds a veth pair standing in for a host device, in the
// throwaway namespace, with cidr on name when given.
func fakeUplink(t *testing.T, name, cidr string) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("failed to add veth %s: %v", name, err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	for _, n := range []string{name, name + "p"} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	if cidr != "" {
		addr, err := netlink.ParseAddr(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.AddrAdd(veth, addr); err != nil {
			t.Fatal(err)
		}
	}
}

// containerAddrs lists the addresses (CIDR) of ifName in the container, or
// nil when it has no such link. A link without addresses other than
// link-local ones gives an empty, non-nil list, so that a link left behind
// does not pass for a link removed.
func containerAddrs(t *testing.T, netnsPath, ifName string) []string {
	t.Helper()
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName(ifName)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, a := range addrs {
		if !a.IP.IsLinkLocalUnicast() {
			out = append(out, a.IPNet.String())
		}
	}
	return out
}

// hostLeftovers lists what attachments leave in the host namespace:
// host-side veths, per-container iptables chains, iptables rules naming a
// container subnet of the shipped networks, host-local leases and libcni
// cache entries. Only what one attachment makes is listed: the bridge, the
// chains all attachments share and ip_forward stay by design.
func hostLeftovers(t *testing.T, cfg Config, ipamDir string) []string {
	t.Helper()
	var left []string
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, "veth") {
			left = append(left, "link "+l.Attrs().Name)
		}
	}
	// Chains every attachment shares; CNI leaves them by design.
	shared := []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK", "CNI-FORWARD", "CNI-ADMIN"}
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("/usr/sbin/iptables", "-w", "-t", table, "-S").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables -t %s -S: %v: %s", table, err, out)
		}
		for _, rule := range strings.Split(string(out), "\n") {
			if chain, ok := strings.CutPrefix(rule, "-N "); ok && strings.HasPrefix(chain, "CNI-") && !slices.Contains(shared, chain) {
				left = append(left, table+" chain "+chain)
			}
			for _, subnet := range []string{" 10.22.", " 10.23.", " 192.168.1."} {
				if strings.Contains(rule, subnet) {
					left = append(left, table+" rule "+rule)
				}
			}
		}
	}
	leases, _ := filepath.Glob(filepath.Join(ipamDir, "*", "*"))
	for _, l := range leases {
		if net.ParseIP(filepath.Base(l)) != nil {
			left = append(left, "lease "+l)
		}
	}
	cache, _ := filepath.Glob(filepath.Join(cfg.CacheDir, "results", "*"))
	for _, c := range cache {
		left = append(left, "cache "+c)
	}
	return left
}

// greet connects to addr and returns the first line it sends.
func greet(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func inSubnet(t *testing.T, cidr, subnet string) bool {
	t.Helper()
	ip, _, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR(subnet)
	return n.Contains(ip)
}

// attach runs New and Add, and makes sure a failing test still deletes
// what was added.
func attach(t *testing.T, cfg Config, networks, args []string, id, nsPath string) (*Setup, *Result, error) {
	t.Helper()
	s, err := New(cfg, networks, args)
	if err != nil {
		t.Fatalf("New(%v, %v) error: %v", networks, args, err)
	}
	res, err := s.Add(context.Background(), id, nsPath)
	if err == nil {
		t.Cleanup(func() { _ = s.Del(context.Background(), id, nsPath) })
	}
	return s, res, err
}
