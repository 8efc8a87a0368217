package hostnet

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// takeWith snapshots the test process's (throwaway) namespace with opts.
func takeWith(t *testing.T, opts SnapshotOptions) *Snapshot {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s, err := Take(opts)
	if err != nil {
		t.Fatalf("Take() error: %v", err)
	}
	return s
}

// argvChange is cmdChange for commands whose arguments contain blanks.
func argvChange(do, undo []string) func(t *testing.T) func() {
	return func(t *testing.T) func() {
		run(t, do...)
		return func() { run(t, undo...) }
	}
}

func run(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%q: %v: %s", argv, err, out)
	}
}

// kindCase is one change to the throwaway host and what Compare must say.
type kindCase struct {
	name   string
	change func(t *testing.T) (undo func())
	want   func(c Change) bool
	line   string // a line of Diff.String()
}

// runKindCases applies each change in turn: the comparison with base
// must show it, and once undone, nothing.
func runKindCases(t *testing.T, base *Snapshot, opts SnapshotOptions, cases []kindCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			undo := sync.OnceFunc(tt.change(t))
			t.Cleanup(undo)

			d := Compare(base, takeWith(t, opts))
			if !slices.ContainsFunc(d.Changes, tt.want) {
				t.Errorf("expected change not found in:\n%s", d)
			}
			if !strings.Contains(d.String(), tt.line) {
				t.Errorf("Diff.String() has no %q:\n%s", tt.line, d)
			}

			undo()
			if d := Compare(base, takeWith(t, opts)); !d.Empty() {
				t.Errorf("still different after undoing the change:\n%s", d)
			}
		})
	}
}

// The kinds the guard learnt for issue 14 (neighbours, xfrm, address
// labels, nexthops, link alias and txqueuelen, multicast addresses) are
// each seen when changed, and forgotten when undone.
func TestSnapshotSeesNewKinds(t *testing.T) {
	h := newFakeHost(t)
	sh(t, "ip neigh add 10.201.0.8 lladdr 02:00:00:00:00:08 dev ib0 nud permanent")
	t.Cleanup(func() { _ = exec.Command("ip", "neigh", "del", "10.201.0.8", "dev", "ib0").Run() })
	opts := SnapshotOptions{ResolvConf: h.ResolvConf}
	base := takeWith(t, opts)
	ib0 := base.Links[slices.IndexFunc(base.Links, func(l Link) bool { return l.Name == "ib0" })]
	if ib0.TxQLen == nil || ib0.Alias == nil {
		t.Fatalf("ib0's txqueuelen or alias not recorded: %+v", ib0)
	}
	txqlen := strconv.Itoa(*ib0.TxQLen)

	join := func(network, group string) func(t *testing.T) func() {
		return func(t *testing.T) func() {
			ifi, err := net.InterfaceByName("ib0")
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.ListenMulticastUDP(network, ifi, &net.UDPAddr{IP: net.ParseIP(group), Port: 5999})
			if err != nil {
				t.Fatalf("joining %s: %v", group, err)
			}
			return func() { c.Close() }
		}
	}

	runKindCases(t, base, opts, []kindCase{
		{
			name:   "permanent neighbour added",
			change: cmdChange("ip neigh add 10.201.0.9 lladdr 02:00:00:00:00:09 dev ib0 nud permanent", "ip neigh del 10.201.0.9 dev ib0"),
			want:   isChange(Change{Op: Added, Kind: KindNeighbour, Object: "10.201.0.9 on ib0", After: "lladdr 02:00:00:00:00:09 permanent"}),
			line:   "+ neighbour 10.201.0.9 on ib0: lladdr 02:00:00:00:00:09 permanent",
		},
		{
			name: "permanent neighbour's hardware address replaced",
			change: cmdChange("ip neigh replace 10.201.0.8 lladdr 02:00:00:00:00:18 dev ib0 nud permanent",
				"ip neigh replace 10.201.0.8 lladdr 02:00:00:00:00:08 dev ib0 nud permanent"),
			want: isChange(Change{Op: Changed, Kind: KindNeighbour, Object: "10.201.0.8 on ib0",
				Before: "lladdr 02:00:00:00:00:08 permanent", After: "lladdr 02:00:00:00:00:18 permanent"}),
			line: "neighbour 10.201.0.8 on ib0: lladdr 02:00:00:00:00:08 permanent -> lladdr 02:00:00:00:00:18 permanent",
		},
		{
			name:   "noarp neighbour added by hand",
			change: cmdChange("ip neigh add 10.201.0.10 lladdr 02:00:00:00:00:0a dev ib0 nud noarp", "ip neigh del 10.201.0.10 dev ib0"),
			want:   isChange(Change{Op: Added, Kind: KindNeighbour, Object: "10.201.0.10 on ib0", After: "lladdr 02:00:00:00:00:0a noarp"}),
			line:   "+ neighbour 10.201.0.10 on ib0: lladdr 02:00:00:00:00:0a noarp",
		},
		{
			name:   "IPv6 router neighbour added",
			change: cmdChange("ip -6 neigh add fd00::9 lladdr 02:00:00:00:00:09 dev ib0 router", "ip -6 neigh del fd00::9 dev ib0"),
			want:   isChange(Change{Op: Added, Kind: KindNeighbour, Object: "fd00::9 on ib0", After: "lladdr 02:00:00:00:00:09 permanent router"}),
			line:   "+ neighbour fd00::9 on ib0: lladdr 02:00:00:00:00:09 permanent router",
		},
		{
			name:   "proxy neighbour added",
			change: cmdChange("ip neigh add proxy 10.201.0.11 dev ib0", "ip neigh del proxy 10.201.0.11 dev ib0"),
			want:   isChange(Change{Op: Added, Kind: KindNeighbour, Object: "proxy 10.201.0.11 on ib0"}),
			line:   "+ neighbour proxy 10.201.0.11 on ib0",
		},
		{
			name: "xfrm policy added",
			change: cmdChange("ip xfrm policy add src 10.201.0.0/24 dst 10.9.0.0/16 dir out tmpl src 10.201.0.2 dst 10.201.0.9 proto esp reqid 1 mode tunnel",
				"ip xfrm policy delete src 10.201.0.0/24 dst 10.9.0.0/16 dir out"),
			want: isChange(Change{Op: Added, Kind: KindXfrmPolicy, Object: "src 10.201.0.0/24 dst 10.9.0.0/16 dir out",
				After: "priority 0 action allow tmpl src 10.201.0.2 dst 10.201.0.9 proto esp reqid 1 mode tunnel"}),
			line: "+ xfrm policy src 10.201.0.0/24 dst 10.9.0.0/16 dir out: priority 0 action allow tmpl src 10.201.0.2 dst 10.201.0.9 proto esp reqid 1 mode tunnel",
		},
		{
			// The netlink library alone would show fd00:1::/64 as an IPv4
			// address without its prefix length.
			name: "xfrm policy on IPv6 prefixes added",
			change: cmdChange("ip xfrm policy add src fd00:1::/64 dst fd00:2::/64 proto tcp dport 22 dir in priority 5 action block",
				"ip xfrm policy delete src fd00:1::/64 dst fd00:2::/64 proto tcp dport 22 dir in"),
			want: isChange(Change{Op: Added, Kind: KindXfrmPolicy, Object: "src fd00:1::/64 dst fd00:2::/64 proto 6 dport 22 dir in",
				After: "priority 5 action block"}),
			line: "+ xfrm policy src fd00:1::/64 dst fd00:2::/64 proto 6 dport 22 dir in: priority 5 action block",
		},
		{
			// This kernel has no ESP, AH or IPcomp transforms, so a state
			// with keys cannot be added (xfrmStateEntry's test renders
			// one); a state whose SPI a key manager reserved can, and it
			// lives 30 seconds unless deleted.
			name: "xfrm state added",
			change: cmdChange("ip xfrm state allocspi src 10.201.0.2 dst 10.201.0.9 proto esp mode tunnel reqid 5 min 0x1000 max 0x1000",
				"ip xfrm state delete src 10.201.0.2 dst 10.201.0.9 proto esp spi 0x1000"),
			want: func(c Change) bool {
				return c.Op == Added && c.Kind == KindXfrmState && c.Object == "src 10.201.0.2 dst 10.201.0.9 proto esp spi 0x00001000" &&
					strings.HasPrefix(c.After, "reqid 5 mode tunnel ") && strings.Contains(c.After, " sel src 10.201.0.2/32 dst 10.201.0.9/32")
			},
			line: "+ xfrm state src 10.201.0.2 dst 10.201.0.9 proto esp spi 0x00001000: reqid 5 mode tunnel",
		},
		{
			name:   "address label added",
			change: cmdChange("ip addrlabel add prefix 2001:db8::/64 dev ib0 label 99", "ip addrlabel del prefix 2001:db8::/64 dev ib0 label 99"),
			want:   isChange(Change{Op: Added, Kind: KindAddrLabel, Object: "prefix 2001:db8::/64 dev ib0", After: "label 99"}),
			line:   "+ addrlabel prefix 2001:db8::/64 dev ib0: label 99",
		},
		{
			name:   "nexthop added",
			change: cmdChange("ip nexthop add id 7 via 10.201.0.1 dev ib0", "ip nexthop del id 7"),
			want:   isChange(Change{Op: Added, Kind: KindNexthop, Object: "id 7", After: "gateway 10.201.0.1 dev ib0 scope link"}),
			line:   "+ nexthop id 7: gateway 10.201.0.1 dev ib0 scope link",
		},
		{
			name:   "link alias set",
			change: argvChange([]string{"ip", "link", "set", "ib0", "alias", "fabric uplink"}, []string{"ip", "link", "set", "ib0", "alias", ""}),
			want:   isChange(Change{Op: Changed, Kind: KindLink, Object: "ib0", Field: "alias", Before: "", After: "fabric uplink"}),
			line:   `link ib0: alias "" -> fabric uplink`,
		},
		{
			name:   "txqueuelen",
			change: cmdChange("ip link set ib0 txqueuelen 500", "ip link set ib0 txqueuelen "+txqlen),
			want:   isChange(Change{Op: Changed, Kind: KindLink, Object: "ib0", Field: "txqlen", Before: txqlen, After: "500"}),
			line:   "link ib0: txqlen " + txqlen + " -> 500",
		},
		{
			name:   "link-layer multicast address added",
			change: cmdChange("ip maddr add 01:00:5e:01:02:03 dev ib0", "ip maddr del 01:00:5e:01:02:03 dev ib0"),
			want:   isChange(Change{Op: Added, Kind: KindMulticast, Object: "link 01:00:5e:01:02:03 on ib0", After: "static"}),
			line:   "+ multicast link 01:00:5e:01:02:03 on ib0: static",
		},
		{
			name:   "IPv4 multicast group joined",
			change: join("udp4", "239.1.2.3"),
			want:   isChange(Change{Op: Added, Kind: KindMulticast, Object: "inet 239.1.2.3 on ib0"}),
			line:   "+ multicast inet 239.1.2.3 on ib0",
		},
		{
			name:   "IPv6 multicast group joined",
			change: join("udp6", "ff02::1234"),
			want:   isChange(Change{Op: Added, Kind: KindMulticast, Object: "inet6 ff02::1234 on ib0"}),
			line:   "+ multicast inet6 ff02::1234 on ib0",
		},
	})
}

// The control: with something of every new kind configured, and traffic
// that fills the neighbour cache, forks (kernel.ns_last_pid), opens files
// and ptys, two snapshots seconds after the baseline compare clean, the
// kernel settings included. The self-changing keys did move meanwhile,
// so the exclusions are what keeps the comparison clean.
func TestSnapshotNewKindsStable(t *testing.T) {
	h := newFakeHost(t)
	peer := "nsenter -t " + strconv.Itoa(h.PeerPID) + " -n "
	sh(t, peer+"ip addr add 10.201.0.1/24 dev ibpeer")
	for _, c := range []struct{ do, undo string }{
		{"ip neigh add 10.201.0.8 lladdr 02:00:00:00:00:08 dev ib0", "ip neigh del 10.201.0.8 dev ib0"},
		{"ip xfrm policy add src 10.201.0.0/24 dst 10.9.0.0/16 dir out", "ip xfrm policy delete src 10.201.0.0/24 dst 10.9.0.0/16 dir out"},
		{"ip addrlabel add prefix 2001:db8::/64 label 99", "ip addrlabel del prefix 2001:db8::/64 label 99"},
		{"ip nexthop add id 7 via 10.201.0.1 dev ib0", "ip nexthop del id 7"},
		{"ip maddr add 01:00:5e:01:02:03 dev ib0", "ip maddr del 01:00:5e:01:02:03 dev ib0"},
	} {
		sh(t, c.do)
		undo := strings.Fields(c.undo)
		t.Cleanup(func() { _ = exec.Command(undo[0], undo[1:]...).Run() })
	}
	opts := SnapshotOptions{ResolvConf: h.ResolvConf, Kernel: true}
	base := takeWith(t, opts)
	lastPid := strings.TrimSpace(readFile(t, "/proc/sys/kernel/ns_last_pid"))

	// The baseline has all of it, and none of the excluded keys.
	if base.Neighbours == nil || !slices.Contains(base.Neighbours.Entries, Entry{ID: "10.201.0.8 on ib0", Value: "lladdr 02:00:00:00:00:08 permanent"}) {
		t.Errorf("the permanent neighbour is missing: %+v", base.Neighbours)
	}
	for name, o := range map[string]*Objects{"xfrm policies": base.XfrmPolicies, "xfrm states": base.XfrmStates, "address labels": base.AddrLabels, "nexthops": base.Nexthops, "multicast": base.Multicast} {
		if o == nil || o.Unavailable != "" {
			t.Errorf("%s not recorded: %+v", name, o)
		}
	}
	if base.Sysfs == nil || base.Sysfs.FSType != "sysfs" {
		t.Errorf("the /sys mount is not recorded: %+v", base.Sysfs)
	}
	if base.Kernel == nil || base.Kernel.BinfmtMisc.Unavailable != "" {
		t.Fatalf("kernel state not recorded: %+v", base.Kernel)
	}
	for _, k := range []string{"kernel.hostname", "kernel.core_pattern", "vm.swappiness", "fs.file-max"} {
		if _, ok := base.Kernel.Sysctls[k]; !ok {
			t.Errorf("%s is not recorded (%d kernel sysctls)", k, len(base.Kernel.Sysctls))
		}
	}
	for k := range base.Kernel.Sysctls {
		if excludedKernelSysctl(k) {
			t.Errorf("the excluded %s was recorded", k)
		}
	}

	// Traffic and activity that change what must not count.
	conn, err := net.Dial("udp4", "10.201.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 20 {
		if err := exec.Command("true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	if pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err == nil {
		pty.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for !neighbourReachable(t, "ib0", "10.201.0.1") {
		if time.Now().After(deadline) {
			t.Fatal("10.201.0.1 never became a reachable neighbour")
		}
		if _, err := conn.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval: neighbour state changes are not subscribed to here
	}
	if now := strings.TrimSpace(readFile(t, "/proc/sys/kernel/ns_last_pid")); now == lastPid {
		t.Fatalf("kernel.ns_last_pid did not move (%s): the control would prove nothing", now)
	}

	second := takeWith(t, opts)
	if d := Compare(base, second); !d.Empty() {
		t.Errorf("the host changed between two snapshots with traffic only:\n%s", d)
	}
	// Not a wait for a condition: the idle time under test, for the
	// neighbour entry to go stale and the counters to move.
	time.Sleep(3 * time.Second)
	if d := Compare(base, takeWith(t, opts)); !d.Empty() {
		t.Errorf("the host changed between two snapshots seconds apart:\n%s", d)
	}
}

func neighbourReachable(t *testing.T, link, ip string) bool {
	t.Helper()
	l, err := netlink.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	neighs, err := netlink.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(neighs, func(n netlink.Neigh) bool {
		return n.IP.String() == ip && n.State&netlink.NUD_REACHABLE != 0
	})
}

// The flags of the /sys mount and of the sysfs under it are recorded. The
// test mounts a sysfs of its own throwaway network namespace (a file
// system of its own, checked before anything is remounted) and points
// the snapshot at it.
func TestSnapshotSeesSysfsFlags(t *testing.T) {
	requireThrowawayNetns(t)
	dir := t.TempDir()
	sh(t, "mount -t sysfs -o nosuid,nodev,noexec sysfs "+dir)
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	// TestMain's mount namespace is a copy of the machine's: its /sys is
	// the machine's sysfs.
	var own, machine unix.Stat_t
	if err := unix.Stat(dir, &own); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/sys", &machine); err != nil {
		t.Fatal(err)
	}
	if own.Dev == machine.Dev {
		t.Fatalf("the new sysfs is the machine's /sys file system (device %d): refusing to remount it", own.Dev)
	}
	old := sysfsPath
	sysfsPath = dir
	t.Cleanup(func() { sysfsPath = old })

	base := takeWith(t, SnapshotOptions{})
	if base.Sysfs == nil || base.Sysfs.FSType != "sysfs" || base.Sysfs.SuperOptions != "rw" || !strings.HasPrefix(base.Sysfs.Options, "rw,nosuid,nodev,noexec") {
		t.Fatalf("the test's sysfs is recorded as %+v", base.Sysfs)
	}
	runKindCases(t, base, SnapshotOptions{}, []kindCase{
		{
			name:   "mount read-only",
			change: cmdChange("mount -o remount,bind,ro "+dir, "mount -o remount,bind,rw "+dir),
			want: func(c Change) bool {
				return c.Op == Changed && c.Kind == KindSysfsMount && c.Object == dir && c.Field == "options" &&
					strings.HasPrefix(c.Before, "rw,") && strings.HasPrefix(c.After, "ro,")
			},
			line: "sysfs mount " + dir + ": options rw,nosuid,nodev,noexec",
		},
		{
			// What finding 3 did to the host: MS_REMOUNT|MS_RDONLY without
			// MS_BIND makes the file system itself read-only.
			name:   "file system read-only",
			change: cmdChange("mount -o remount,ro "+dir, "mount -o remount,rw "+dir),
			want:   isChange(Change{Op: Changed, Kind: KindSysfsMount, Object: dir, Field: "super options", Before: "rw", After: "ro"}),
			line:   "sysfs mount " + dir + ": super options rw -> ro",
		},
	})
}

// kernel.*, vm.* and fs.* sysctls are recorded with SnapshotOptions.Kernel.
// Most of them are global; the test changes the ones that belong to the
// throwaway UTS and IPC namespaces TestMain made.
func TestSnapshotSeesKernelSysctls(t *testing.T) {
	requireThrowawayNamespaces(t)
	opts := SnapshotOptions{Kernel: true}
	base := takeWith(t, opts)
	if base.Kernel == nil {
		t.Fatal("kernel state not recorded")
	}
	sysctl := func(key, value string) func(t *testing.T) func() {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
		return func(t *testing.T) func() {
			old := readFile(t, path)
			writeFile(t, path, value)
			return func() { writeFile(t, path, old) }
		}
	}
	shmmax, err := strconv.ParseUint(base.Kernel.Sysctls["kernel.shmmax"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	queues := base.Kernel.Sysctls["fs.mqueue.queues_max"]
	runKindCases(t, base, opts, []kindCase{
		{
			name:   "kernel.hostname",
			change: sysctl("kernel.hostname", "hostnet-test"),
			want:   isChange(Change{Op: Changed, Kind: KindSysctl, Object: "kernel.hostname", Before: base.Kernel.Sysctls["kernel.hostname"], After: "hostnet-test"}),
			line:   "sysctl kernel.hostname: " + base.Kernel.Sysctls["kernel.hostname"] + " -> hostnet-test",
		},
		{
			name:   "kernel.shmmax",
			change: sysctl("kernel.shmmax", strconv.FormatUint(shmmax/2, 10)),
			want:   isChange(Change{Op: Changed, Kind: KindSysctl, Object: "kernel.shmmax", Before: strconv.FormatUint(shmmax, 10), After: strconv.FormatUint(shmmax/2, 10)}),
			line:   "sysctl kernel.shmmax: ",
		},
		{
			name:   "fs.mqueue.queues_max",
			change: sysctl("fs.mqueue.queues_max", "7"),
			want:   isChange(Change{Op: Changed, Kind: KindSysctl, Object: "fs.mqueue.queues_max", Before: queues, After: "7"}),
			line:   "sysctl fs.mqueue.queues_max: " + queues + " -> 7",
		},
	})
}

// binfmt_misc handlers are recorded with SnapshotOptions.Kernel. The
// host's binfmt_misc is global; the test registers in a binfmt_misc of
// its own, mounted in a user namespace (Linux 6.7 and later give each user
// namespace that mounts it an instance of its own, and earlier kernels
// refuse the mount there), and points the snapshot at it.
func TestSnapshotSeesBinfmtMisc(t *testing.T) {
	requireThrowawayNetns(t)
	dir := t.TempDir()
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
		`mount -t binfmt_misc binfmt_misc "$1" && echo mounted && exec sleep 3600`, "sh", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "mounted\n" {
		_ = cmd.Wait()
		t.Skipf("this kernel cannot mount binfmt_misc in a user namespace (before Linux 6.7): %s", stderr.String())
	}
	sandbox := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "root", dir)
	var st unix.Statfs_t
	if err := unix.Statfs(sandbox, &st); err != nil || st.Type != unix.BINFMTFS_MAGIC {
		t.Fatalf("%s is not a binfmt_misc (%v)", sandbox, err)
	}
	old := openBinfmtMisc
	openBinfmtMisc = func() (*os.File, func(), error) {
		d, err := os.Open(sandbox)
		if err != nil {
			return nil, nil, err
		}
		return d, func() { d.Close() }, nil
	}
	t.Cleanup(func() { openBinfmtMisc = old })

	opts := SnapshotOptions{Kernel: true}
	base := takeWith(t, opts)
	if b := base.Kernel.BinfmtMisc; b.Unavailable != "" || b.Status != "enabled" || len(b.Entries) != 0 {
		t.Fatalf("the test's binfmt_misc is recorded as %+v", b)
	}
	write := func(name, content string) func(t *testing.T) {
		return func(t *testing.T) { writeFile(t, filepath.Join(sandbox, name), content) }
	}
	runKindCases(t, base, opts, []kindCase{
		{
			name: "handler registered",
			change: func(t *testing.T) func() {
				write("register", ":hostnettest:E::hostnettestxyz::/bin/true:")(t)
				return func() { write("hostnettest", "-1")(t) }
			},
			want: isChange(Change{Op: Added, Kind: KindBinfmt, Object: "hostnettest",
				After: "enabled; interpreter /bin/true; flags: ; extension .hostnettestxyz"}),
			line: "+ binfmt_misc hostnettest: enabled; interpreter /bin/true",
		},
		{
			name: "disabled",
			change: func(t *testing.T) func() {
				write("status", "0")(t)
				return func() { write("status", "1")(t) }
			},
			want: isChange(Change{Op: Changed, Kind: KindBinfmt, Field: "status", Before: "enabled", After: "disabled"}),
			line: "binfmt_misc: status enabled -> disabled",
		},
	})
}

// The host's binfmt_misc is read through a detached mount, whether the
// host mounted it or not, and leaves no mount behind. Reading it changes
// nothing.
func TestReadBinfmtMiscDetached(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if !kernelHasFS("binfmt_misc") {
		t.Skip("no binfmt_misc in this kernel")
	}
	before := readFile(t, "/proc/self/mountinfo")
	b := readBinfmtMisc()
	if b.Unavailable != "" || (b.Status != "enabled" && b.Status != "disabled") || b.Entries == nil {
		t.Errorf("readBinfmtMisc() = %+v", b)
	}
	if after := readFile(t, "/proc/self/mountinfo"); after != before {
		t.Errorf("the mount table changed:\n%s\nthen\n%s", before, after)
	}
}
