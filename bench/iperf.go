package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Addresses of the veth pair between the throwaway host and its peer.
const (
	vethHostAddr = "10.250.0.1"
	vethPeerAddr = "10.250.0.2"
	iperfPort    = "5201"
	iperfSecs    = "2"
	iperfMount   = "/mnt" // where the host's iperf3 and its libraries appear in the instance
)

// iperfGroup compares TCP throughput of an iperf3 client in the bare host
// namespace, in a --boot-hostnet instance and in a --boot CNI instance,
// to a server on loopback and to one in a peer namespace over a veth.
//
// The image has no iperf3. The host's binary, its shared libraries and
// its dynamic loader are copied into one directory that is bound at
// /mnt; the client runs as `exec instance://N /mnt/ld.so --library-path
// /mnt /mnt/iperf3`, so it joins the instance like any exec does and no
// library of the image is replaced.
func (r *runner) iperfGroup(ctx context.Context, c config) error {
	loHost, loHN, loCNI := r.s(caseIperfLoHost, BitsPerSecond), r.s(caseIperfLoHN, BitsPerSecond), r.s(caseIperfLoCNI, BitsPerSecond)
	vHost, vHN, vCNI := r.s(caseIperfVHost, BitsPerSecond), r.s(caseIperfVHN, BitsPerSecond), r.s(caseIperfVCNI, BitsPerSecond)
	bundle, loader, err := iperfBundle(filepath.Join(r.Top, "iperf"))
	if err != nil {
		return err
	}
	peerPid, err := r.vethPeer()
	if err != nil {
		return err
	}
	if err := r.iperfServer(nil); err != nil {
		return err
	}
	if err := r.iperfServer([]string{"nsenter", "--net=/proc/" + strconv.Itoa(peerPid) + "/ns/net"}); err != nil {
		return err
	}
	bind := bundle + ":" + iperfMount
	if _, err := r.startInstance("--boot", "--boot-hostnet", "--bind", bind, r.Image, "bench-ip-hn"); err != nil {
		return err
	}
	defer r.app("instance", "stop", "-t", "20", "bench-ip-hn")
	if _, err := r.startInstance("--boot", "--bind", bind, r.Image, "bench-ip-cni"); err != nil {
		return err
	}
	defer r.app("instance", "stop", "-t", "20", "bench-ip-cni")
	cni, err := r.instance("bench-ip-cni")
	if err != nil {
		return err
	}
	// The CNI instance has its own lo: its loopback server runs there.
	if err := r.iperfServer([]string{"nsenter", "--net=/proc/" + strconv.Itoa(cni.PID) + "/ns/net"}); err != nil {
		return err
	}
	inInstance := func(name string) []string {
		return []string{r.Bin, "exec", "instance://" + name, iperfMount + "/" + loader, "--library-path", iperfMount, iperfMount + "/iperf3"}
	}
	clients := []struct {
		s      *Series
		prefix []string
		server string
	}{
		{loHost, []string{"iperf3"}, "127.0.0.1"},
		{loHN, inInstance("bench-ip-hn"), "127.0.0.1"},
		{loCNI, inInstance("bench-ip-cni"), "127.0.0.1"},
		{vHost, []string{"iperf3"}, vethPeerAddr},
		{vHN, inInstance("bench-ip-hn"), vethPeerAddr},
		{vCNI, inInstance("bench-ip-cni"), vethPeerAddr},
	}
	// Round-robin, so a slow phase of the machine hits every client alike.
	for i := 0; i < c.Iperf && ctx.Err() == nil; i++ {
		for _, cl := range clients {
			bps, err := r.iperfClient(cl.prefix, cl.server)
			if err != nil {
				return fmt.Errorf("%s: %w", cl.s.Name, err)
			}
			cl.s.Add(bps)
		}
	}
	return ctx.Err()
}

// iperfBundle copies iperf3, every library ldd lists and the loader into
// dir and returns dir and the loader's file name.
func iperfBundle(dir string) (string, string, error) {
	bin, err := exec.LookPath("iperf3")
	if err != nil {
		return "", "", fmt.Errorf("iperf3 is needed (apt-get install iperf3): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("failed to make %q: %w", dir, err)
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return "", "", fmt.Errorf("failed to run ldd %s: %w", bin, err)
	}
	libs, loader := lddPaths(string(out))
	if loader == "" {
		return "", "", fmt.Errorf("ldd %s names no dynamic loader", bin)
	}
	for _, src := range append(libs, bin) {
		dst := filepath.Join(dir, filepath.Base(src))
		if err := copyFile(src, dst); err != nil {
			return "", "", err
		}
		if err := os.Chmod(dst, 0o755); err != nil {
			return "", "", fmt.Errorf("failed to chmod %q: %w", dst, err)
		}
	}
	return dir, filepath.Base(loader), nil
}

// lddPaths returns the absolute paths in ldd output and which of them is
// the dynamic loader (the line without "=>").
func lddPaths(out string) (libs []string, loader string) {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
			loader = f[0]
		}
	}
	return libs, loader
}

// vethPeer makes a namespace held by a sleeping process we started and a
// veth pair from the throwaway host to it. The link dies with the host
// namespace; the holder is killed at cleanup.
func (r *runner) vethPeer() (int, error) {
	holder := exec.Command("unshare", "--net", "sleep", "infinity")
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		return 0, fmt.Errorf("failed to start the peer namespace: %w", err)
	}
	r.defer_(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	pid := holder.Process.Pid
	self, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; ; i++ {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err == nil && ns != self {
			break
		}
		if i == 200 {
			return 0, fmt.Errorf("peer %d did not enter its namespace", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	peerNS := "--net=/proc/" + strconv.Itoa(pid) + "/ns/net"
	steps := [][]string{
		{"ip", "link", "add", "bench0", "type", "veth", "peer", "name", "bench1", "netns", strconv.Itoa(pid)},
		{"ip", "addr", "add", vethHostAddr + "/24", "dev", "bench0"},
		{"ip", "link", "set", "bench0", "up"},
		{"nsenter", peerNS, "ip", "link", "set", "lo", "up"},
		{"nsenter", peerNS, "ip", "addr", "add", vethPeerAddr + "/24", "dev", "bench1"},
		{"nsenter", peerNS, "ip", "link", "set", "bench1", "up"},
		// Replies to the CNI instance go to its NATed source, the host.
		{"nsenter", peerNS, "ip", "route", "add", "default", "via", vethHostAddr},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	r.defer_(func() { _ = exec.Command("ip", "link", "del", "bench0").Run() })
	return pid, nil
}

// iperfServer starts a persistent iperf3 server, in the namespace prefix
// enters, and kills it at cleanup.
func (r *runner) iperfServer(prefix []string) error {
	args := append(append([]string{}, prefix...), "iperf3", "-s", "-p", iperfPort)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to start %s: %w", strings.Join(args, " "), err)
	}
	r.defer_(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return nil
}

// iperfClient runs one client and returns the receiver's throughput. A
// refused connection is retried: the server may still be starting.
func (r *runner) iperfClient(prefix []string, server string) (float64, error) {
	args := append(append([]string{}, prefix...), "-c", server, "-p", iperfPort, "-t", iperfSecs, "-J")
	var last error
	for try := 0; try < 20; try++ {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = r.appCmd().Env
		out, err := cmd.Output()
		if err == nil {
			return parseIperf(out)
		}
		last = fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		time.Sleep(100 * time.Millisecond)
	}
	return 0, last
}

// parseIperf reads the receiver's bits per second from iperf3 -J output.
func parseIperf(out []byte) (float64, error) {
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("failed to parse iperf3 -J output: %w", err)
	}
	if res.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", res.Error)
	}
	if res.End.SumReceived.BitsPerSecond <= 0 {
		return 0, fmt.Errorf("iperf3 reported no throughput")
	}
	return res.End.SumReceived.BitsPerSecond, nil
}
