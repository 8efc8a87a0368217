//go:build e2e

package e2e

// Shared checks of the reliability suites (badinput_test.go,
// faults_test.go, soak_test.go): what one failed or finished instance may
// leave behind, and a before/after record of everything an instance could
// leak on the host.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

// cniStateDir is where the host-local IPAM plugin keeps its leases.
const cniStateDir = "/var/lib/cni/networks"

// cgroupRoots are the places an instance's cgroup may be created in, one
// per hierarchy layout (pure cgroup2, hybrid, and each v1 controller).
func cgroupRoots() ([]string, error) {
	roots := []string{"/sys/fs/cgroup/apptainer", "/sys/fs/cgroup/unified/apptainer"}
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if e.IsDir() && e.Name() != "unified" && e.Name() != "apptainer" {
			roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name(), "apptainer"))
		}
	}
	return roots, nil
}

// traces lists what instance name left behind: a monitor, its instance
// file, runtime directory, cgroup, mounts, and (with h) veth links in the
// fake host. A monitor being torn down gets a few seconds to finish.
func traces(h *fakeHost, name string) []string {
	var found []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		found = tracesNow(h, name)
		if len(found) == 0 || time.Now().After(deadline) {
			return found
		}
		time.Sleep(pollInterval) // poll interval: teardown has no event to wait on
	}
}

func tracesNow(h *fakeHost, name string) []string {
	var found []string
	if monitorRunning(name) {
		found = append(found, "monitor process")
	}
	// exists records path as a trace when it is there; an error other than
	// "no such path" is one too: not knowing is not "nothing there".
	exists := func(what, path string) {
		_, err := os.Lstat(path)
		switch {
		case err == nil:
			found = append(found, what+" "+path)
		case os.IsNotExist(err) || errors.Is(err, syscall.ENAMETOOLONG):
		default:
			found = append(found, fmt.Sprintf("unknown: %s %s: %v", what, path, err))
		}
	}
	exists("instance directory", filepath.Dir(instanceFile(name)))
	rt := filepath.Join(engine.RunRoot(), "instances", "root", name)
	exists("runtime directory", rt)
	roots, err := cgroupRoots()
	if err != nil {
		found = append(found, "unknown: cannot list the cgroup hierarchies: "+err.Error())
	}
	for _, root := range roots {
		exists("cgroup", filepath.Join(root, "root."+name))
	}
	mountinfos := []string{"/proc/self/mountinfo"}
	if h != nil {
		mountinfos = append(mountinfos, fmt.Sprintf("/proc/%d/mountinfo", h.pid))
	}
	for _, mi := range mountinfos {
		b, err := os.ReadFile(mi)
		if err != nil {
			// Not knowing is not "nothing there".
			found = append(found, "unknown: cannot read "+mi+": "+err.Error())
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && (f[4] == rt || strings.HasPrefix(f[4], rt+"/") || strings.HasPrefix(f[3], rt+"/")) {
				found = append(found, "mount "+line)
			}
		}
	}
	if h != nil {
		links, err := h.links()
		if err != nil {
			found = append(found, "unknown: cannot list the fake host's links: "+err.Error())
		} else if v := vethLinks(links); len(v) > 0 {
			found = append(found, "veth links "+strings.Join(v, " ")+":\n"+links)
		}
	}
	return found
}

// assertNoTraces fails the test if instance name left anything behind.
func assertNoTraces(t *testing.T, h *fakeHost, name string) {
	t.Helper()
	for _, tr := range traces(h, name) {
		t.Errorf("%s left behind: %s", name, tr)
	}
}

// links is `ip -o link` in the fake host.
func (h *fakeHost) links() (string, error) {
	a := h.nsenterArgs("ip", "-o", "link")
	out, err := exec.Command(a[0], a[1:]...).Output()
	if err != nil {
		return "", fmt.Errorf("ip -o link in the fake host: %w", err)
	}
	return string(out), nil
}

// vethLinks names the links of `ip -o link` output that CNI made for a
// container (veth...), one per line's name field.
func vethLinks(ipLink string) []string {
	var out []string
	for _, l := range linkNames(ipLink) {
		if name := strings.Fields(l)[1]; strings.HasPrefix(name, "veth") {
			out = append(out, name)
		}
	}
	return out
}

// hostState is a record of everything a run of instances could leak. It is
// compared as sorted lines per aspect, so a difference names the item.
type hostState map[string][]string

// scope says which machine-wide items belong to the test, so that other
// users of a shared machine do not disturb the comparison: items naming
// one of Names (instance names or a prefix of them), and the CNI networks
// Nets. Everything inside the fake host and the test's own mount
// namespace is the test's and compared whole.
type scope struct {
	Names []string
	Nets  []string
}

func (sc scope) mine(line string) bool {
	for _, n := range sc.Names {
		if strings.Contains(line, n) {
			return true
		}
	}
	return false
}

func (sc scope) filter(in []string) []string {
	var out []string
	for _, l := range in {
		if sc.mine(l) {
			out = append(out, l)
		}
	}
	return out
}

// takeHostState records the state of the test's host and of the fake host
// h (may be nil).
func takeHostState(t *testing.T, h *fakeHost, sc scope) hostState {
	t.Helper()
	s := hostState{}
	s["mounts"] = mountPoints(t, "/proc/self/mountinfo")
	s["loop devices"] = ourLoops(lines(cmdOut(t, "losetup", "-a")))
	s["network namespaces"] = sc.filter(lines(cmdOut(t, "ip", "netns", "list")))
	s["cni leases"] = cniLeases(t, sc.Nets)
	s["cni cache"] = cniCache(t, sc.Nets)
	s["cgroups"] = sc.filter(sortedKeys(cgroupDirs(t)))
	s["instance files"] = walkFiles(t, filepath.Join(env.Home, ".apptainer", "instances", "app"))
	s["runtime dirs"] = sc.filter(dirNames(t, filepath.Join(engine.RunRoot(), "instances", "root")))
	s["processes"] = containerProcesses(t, h, sc)
	s["test fds"] = openFDs(t)
	if h != nil {
		links, err := h.links()
		if err != nil {
			t.Fatal(err)
		}
		s["fake host mounts"] = mountPoints(t, fmt.Sprintf("/proc/%d/mountinfo", h.pid))
		s["fake host links"] = linkNames(links)
		s["fake host iptables"] = ruleLines(h.output(t, "iptables-save"))
		s["fake host ip6tables"] = ruleLines(h.output(t, "ip6tables-save"))
		s["fake host nft"] = ruleLines(h.output(t, "nft", "list", "ruleset"))
		s["fake host addresses"] = stateless(lines(h.output(t, "ip", "-o", "addr")))
		s["fake host routes"] = stateless(lines(h.output(t, "ip", "route", "show", "table", "all")))
	}
	return s
}

// assertSameHostState waits a little for teardown to settle, then reports
// every line added to or removed from any aspect.
func assertSameHostState(t *testing.T, h *fakeHost, sc scope, before hostState) {
	t.Helper()
	var diffs []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		diffs = diffHostState(before, takeHostState(t, h, sc))
		if len(diffs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // poll interval: teardown has no event to wait on; a state takes ~100 ms to record
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

func diffHostState(before, after hostState) []string {
	var out []string
	for _, aspect := range sortedKeysOf(before) {
		was := map[string]bool{}
		for _, l := range before[aspect] {
			was[l] = true
		}
		is := map[string]bool{}
		for _, l := range after[aspect] {
			is[l] = true
			if !was[l] {
				out = append(out, fmt.Sprintf("%s: added %s", aspect, l))
			}
		}
		for _, l := range before[aspect] {
			if !is[l] {
				out = append(out, fmt.Sprintf("%s: removed %s", aspect, l))
			}
		}
	}
	return out
}

// stateless drops the flags that follow a link's carrier and duplicate
// address detection, which change by themselves when the bridge has no
// port left or a new address settles.
func stateless(in []string) []string {
	out := make([]string, 0, len(in))
	for _, l := range in {
		f := strings.Fields(l)
		kept := f[:0]
		for _, w := range f {
			if w != "linkdown" && w != "tentative" {
				kept = append(kept, w)
			}
		}
		out = append(out, strings.Join(kept, " "))
	}
	sort.Strings(out)
	return out
}

// ourLoops keeps the loop devices backed by the test's files (under its
// scratch directory or a t.TempDir): loop devices are machine-wide.
func ourLoops(in []string) []string {
	var out []string
	for _, l := range in {
		if strings.Contains(l, env.Top) || strings.Contains(l, os.TempDir()+"/Test") {
			out = append(out, l)
		}
	}
	return out
}

// cmdOut runs a command in the test's namespaces and returns its output;
// a failure fails the test (an empty list is not a failed read).
func cmdOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderrOf(err))
	}
	return string(out)
}

// stderrOf is what a failed command printed on stderr, if it was kept.
func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// ruleLines drops the comments and packet counters of a firewall dump,
// which change with traffic, not with configuration.
func ruleLines(s string) []string {
	var out []string
	for _, l := range lines(s) {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, ":") { // ":CHAIN POLICY [pkts:bytes]"
			if i := strings.Index(l, " ["); i > 0 {
				l = l[:i]
			}
		}
		out = append(out, l)
	}
	return out
}

// linkNames keeps the name and index of each link: flags and statistics of
// a link change by themselves (carrier, address lifetimes).
func linkNames(s string) []string {
	var out []string
	for _, l := range lines(s) {
		f := strings.Fields(l)
		if len(f) >= 2 {
			out = append(out, f[0]+" "+strings.TrimSuffix(f[1], ":"))
		}
	}
	return out
}

// mountPoints lists the mount points and sources of a mountinfo file.
func mountPoints(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range lines(string(b)) {
		f := strings.Fields(l)
		if len(f) > 4 {
			out = append(out, f[4]+" "+f[3])
		}
	}
	sort.Strings(out)
	return out
}

// cniLeases lists the addresses host-local has handed out in nets; its
// lock and last-reserved bookkeeping files are not leases.
func cniLeases(t *testing.T, nets []string) []string {
	t.Helper()
	var out []string
	for _, n := range nets {
		for _, e := range dirNames(t, filepath.Join(cniStateDir, n)) {
			if e == "lock" || strings.HasPrefix(e, "last_reserved_ip") {
				continue
			}
			out = append(out, n+"/"+e)
		}
	}
	return out
}

// cniCache lists libcni's cached results of nets ("<net>-<id>-<ifname>").
func cniCache(t *testing.T, nets []string) []string {
	t.Helper()
	var out []string
	for _, p := range walkNames(t, filepath.Join(engine.RunRoot(), "cni-cache")) {
		for _, n := range nets {
			if strings.HasPrefix(filepath.Base(p), n+"-") {
				out = append(out, p)
			}
		}
	}
	return out
}

// walkNames lists every path under root; a root that does not exist (yet)
// is empty, any other error fails the test.
func walkNames(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // gone while walking, or no root
			}
			return err
		}
		if p != root {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return out
}

// walkFiles lists the files under root; directories made once for the
// user (instances/app/<host>/<user>) stay and are not leaks.
func walkFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, p := range walkNames(t, root) {
		if fi, err := os.Lstat(p); err == nil && !fi.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

// dirNames lists the names in dir; one that does not exist is empty.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	names, err := entries(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// containerProcesses lists the test's instance monitors and container
// processes: monitors of its instance names, processes in one of their
// cgroups, and processes of another PID namespace living in the fake
// host's network namespace. Each is named by PID and command line.
func containerProcesses(t *testing.T, h *fakeHost, sc scope) []string {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	hostNet := ""
	if h != nil {
		if hostNet, err = os.Readlink(h.NetNS); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		p := filepath.Join("/proc", e.Name())
		b, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, or a kernel thread
		}
		cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		cg, _ := os.ReadFile(filepath.Join(p, "cgroup"))
		pidNS, _ := os.Readlink(filepath.Join(p, "ns", "pid"))
		netNS, _ := os.Readlink(filepath.Join(p, "ns", "net"))
		monitor := strings.HasPrefix(cmd, "Apptainer instance") && sc.mine(cmd)
		inCgroup := false
		for _, n := range sc.Names {
			inCgroup = inCgroup || strings.Contains(string(cg), "/root."+n)
		}
		inHost := hostNet != "" && netNS == hostNet && pidNS != self
		if monitor || inCgroup || inHost {
			out = append(out, e.Name()+" "+cmd)
		}
	}
	sort.Strings(out)
	return out
}

// openFDs lists the test process's descriptors and what they point at,
// leaving out the one ReadDir itself holds.
func openFDs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || strings.HasPrefix(target, "/proc/") && strings.HasSuffix(target, "/fd") {
			continue
		}
		out = append(out, e.Name()+" -> "+target)
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeysOf(s hostState) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// machineState is what the whole suite must leave as it found it on the
// real machine (outside the throwaway namespaces TestMain runs the tests
// in; TestMain records it before the tests and compares after them, see
// suite_test.go): its global sysctls, the top of every cgroup hierarchy, its hostname
// and its own network namespace. Upstream's --boot is known to change
// fs.file-max, kernel.printk and kernel.core_pattern and to leave cgroup
// directories; this build must do neither.
type machineState struct {
	Sysctls  map[string]string
	Cgroups  []string
	Hostname string
	Net      *hostnet.Snapshot
}

// volatileSysctls change by themselves, with no one configuring anything:
// kernel counters of live objects (dentries, inodes, open files, AIO
// requests, PTYs, the last PID handed out), random values that are new at
// every read, a rate the kernel lowers on its own when perf sampling runs
// long, and quota statistics. kernel.hostname and kernel.domainname
// belong to the UTS namespace, and the tests run in a throwaway one: the
// machine's hostname is read from its own UTS namespace instead.
var volatileSysctls = map[string]bool{
	"fs.dentry-state": true, "fs.inode-nr": true, "fs.inode-state": true,
	"fs.file-nr": true, "fs.aio-nr": true,
	"kernel.ns_last_pid": true, "kernel.pty.nr": true,
	"kernel.random.uuid": true, "kernel.random.entropy_avail": true,
	"kernel.perf_event_max_sample_rate": true,
	"kernel.hostname":                   true, "kernel.domainname": true,
}

// machineSysctls reads every readable fs.* and kernel.* sysctl except the
// volatile ones, named as sysctl(8) names them.
func machineSysctls() map[string]string {
	out := map[string]string{}
	for _, top := range []string{"fs", "kernel"} {
		_ = filepath.WalkDir(filepath.Join("/proc/sys", top), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			name := strings.ReplaceAll(strings.TrimPrefix(p, "/proc/sys/"), "/", ".")
			if volatileSysctls[name] || strings.HasPrefix(name, "fs.quota.") {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil // write-only or refused: nothing to compare
			}
			out[name] = strings.Join(strings.Fields(string(b)), " ")
			return nil
		})
	}
	return out
}

// cgroupTops lists the directories directly under the root of every
// mounted cgroup hierarchy (v1 controllers, the hybrid unified one, or a
// pure cgroup2 root).
func cgroupTops() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		i := indexOf(f, "-")
		if i < 0 || i+1 >= len(f) || (f[i+1] != "cgroup" && f[i+1] != "cgroup2") || seen[f[4]] {
			continue
		}
		seen[f[4]] = true
		ents, err := os.ReadDir(f[4])
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() {
				out = append(out, filepath.Join(f[4], e.Name()))
			}
		}
	}
	if len(seen) == 0 {
		return nil, errors.New("no cgroup hierarchy in /proc/self/mountinfo")
	}
	sort.Strings(out)
	return out, nil
}

func indexOf(f []string, s string) int {
	for i, v := range f {
		if v == s {
			return i
		}
	}
	return -1
}

// machineNamespace returns a path to the machine's own network (or other)
// namespace. PID 1's is the machine's, but a sandboxed PID 1 may refuse
// access to it; the process that started this test binary (its parent:
// TestMain's unshare execs the test in place) never left the namespaces
// `go test` ran in, and serves then.
func machineNamespace(kind string) (string, error) {
	p := "/proc/1/ns/" + kind
	if f, err := os.Open(p); err == nil {
		f.Close()
		return p, nil
	}
	p = fmt.Sprintf("/proc/%d/ns/%s", os.Getppid(), kind)
	self, _ := os.Readlink("/proc/self/ns/" + kind)
	parent, err := os.Readlink(p)
	if err != nil {
		return "", fmt.Errorf("failed to read the machine's %s namespace: %w", kind, err)
	}
	if kind != "ipc" && parent == self {
		return "", fmt.Errorf("the parent process %d shares the test's %s namespace: not the machine's", os.Getppid(), kind)
	}
	return p, nil
}

func takeMachineState() (*machineState, error) {
	netPath, err := machineNamespace("net")
	if err != nil {
		return nil, err
	}
	snap, err := hostnet.TakeInNetns(netPath, hostnet.SnapshotOptions{
		ResolvConf: "/etc/resolv.conf",
		// Services on the machine open and close sockets as they please.
		ListenerFilter: func(uint64) bool { return false },
	})
	if err != nil {
		return nil, fmt.Errorf("failed to snapshot the machine's network namespace %s: %w", netPath, err)
	}
	utsPath, err := machineNamespace("uts")
	if err != nil {
		return nil, err
	}
	hn, err := exec.Command("nsenter", "--uts="+utsPath, "hostname").Output()
	if err != nil {
		return nil, fmt.Errorf("failed to read the machine's hostname: %w", err)
	}
	cgroups, err := cgroupTops()
	if err != nil {
		return nil, fmt.Errorf("failed to list the cgroup hierarchies: %w", err)
	}
	return &machineState{Sysctls: machineSysctls(), Cgroups: cgroups, Hostname: strings.TrimSpace(string(hn)), Net: snap}, nil
}

// compareMachine describes every difference between two machine states.
func compareMachine(before, after *machineState) []string {
	var out []string
	for k, v := range before.Sysctls {
		if w, ok := after.Sysctls[k]; !ok {
			out = append(out, fmt.Sprintf("sysctl %s disappeared (was %q)", k, v))
		} else if w != v {
			out = append(out, fmt.Sprintf("sysctl %s changed: %q -> %q", k, v, w))
		}
	}
	for k, w := range after.Sysctls {
		if _, ok := before.Sysctls[k]; !ok {
			out = append(out, fmt.Sprintf("sysctl %s appeared (%q)", k, w))
		}
	}
	for _, d := range diffHostState(hostState{"cgroup": before.Cgroups}, hostState{"cgroup": after.Cgroups}) {
		out = append(out, d)
	}
	if before.Hostname != after.Hostname {
		out = append(out, fmt.Sprintf("hostname changed: %q -> %q", before.Hostname, after.Hostname))
	}
	if d := hostnet.Compare(before.Net, after.Net); !d.Empty() {
		out = append(out, "network namespace changed:\n"+d.String())
	}
	sort.Strings(out)
	return out
}
