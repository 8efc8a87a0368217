//go:build e2e

package e2e

// Attacks on issue 20's rootless instances and boots: what the root of an
// ordinary user's booted instance on the host network tries against the
// host, what a second user tries against the first user's instance, what
// a user plants in the own store for root to act on (-u), what a hostile
// image's symbolic links try against the user, and what a forged instance
// file tries against the ghost cleanup. Every refusal comes with a
// positive control: the same step succeeds where the safeguard does not
// apply, so no test passes because the attack could not run at all.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/instance"
)

// newOtherUser is newTestUser for a second user of the same test, whose
// name carries tag.
func newOtherUser(t *testing.T, tag string) testUser {
	t.Helper()
	return newUser(t, "apt"+tag)
}

// userStore is u's instance store on this host: its instance files'
// directory, its logs' and its runtime directories' parent.
type userStore struct {
	app, logs, run string
}

func storeOf(t *testing.T, u testUser) userStore {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(u.home, ".apptainer", "instances")
	return userStore{
		app:  filepath.Join(base, "app", host, u.name),
		logs: filepath.Join(base, "logs", host, u.name),
		run:  filepath.Join(base, "run", host),
	}
}

// plantInstanceFile writes the instance file of name into the user's
// store as the user's own (directories 0700), from fields.
func plantInstanceFile(t *testing.T, u testUser, s userStore, name string, fields map[string]any) {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.app, name)
	plantDir(t, u, dir)
	p := filepath.Join(dir, name+".json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
}

// plantDir makes dir and its missing parents as the user's, mode 0700.
func plantDir(t *testing.T, u testUser, dir string) {
	t.Helper()
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(missing[i], u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
	}
}

// instanceFields reads an instance file as a map, to forge others from it.
func instanceFields(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// fieldInt is a number field of an instance file read by instanceFields.
func fieldInt(t *testing.T, m map[string]any, key string) int {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok || v <= 0 {
		t.Fatalf("instance file field %s = %v", key, m[key])
	}
	return int(v)
}

// ppidOf is the parent PID of pid, 0 when it cannot be read.
func ppidOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// noTerminalControls fails when out holds a byte a terminal acts on (ESC,
// BEL, CSI): a forged field printed raw on root's terminal.
func noTerminalControls(t *testing.T, what, out string) {
	t.Helper()
	if i := strings.IndexAny(out, "\x1b\x07\u009b"); i >= 0 {
		t.Errorf("%s prints a raw terminal control character at byte %d:\n%q", what, i, out)
	}
}

// capHeld says whether the hex CapEff mask holds capability bit.
func capHeld(mask string, bit uint) bool {
	v, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
	return err == nil && v&(1<<bit) != 0
}

// TestAttackRootlessBootHostnet: the root of an ordinary user's booted
// instance on the host network, holding every capability of its user
// namespace, tries to change the host: sysfs (after lifting /sys's
// read-only flag, and through a new sysfs), net sysctls (after lifting the
// read-only /proc/sys, and through a new procfs), device nodes, the cgroup
// tree, ib0's links, addresses, rules and routes, raw and packet sockets
// and a privileged port. Each fails; the same step by host root in the
// fake host succeeds (the controls), and the fake host's network is the
// same before and after.
func TestAttackRootlessBootHostnet(t *testing.T) {
	h, sif := newRootlessHost(t)
	// The fake host shows the sysfs of its own network namespace (ib0,
	// not the machine's links), and keeps the machine's cgroup tree.
	keep := t.TempDir()
	h.mustRun(t, "sh", "-c", `mount --rbind /sys/fs/cgroup "$1" && mount -t sysfs sysfs /sys && mount --move "$1" /sys/fs/cgroup`, "sh", keep)
	if got := strings.TrimSpace(h.output(t, "cat", "/sys/class/net/ib0/mtu")); got != "2044" {
		t.Fatalf("the fake host's sysfs shows ib0's MTU as %q, want 2044", got)
	}
	if got := strings.TrimSpace(h.output(t, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start")); got != "1024" {
		t.Fatalf("the fake host's ip_unprivileged_port_start is %s: ports below 1024 are no privilege there, the port attack proves nothing", got)
	}
	unified := unifiedMount(t)
	perlSockets := `use Socket; print socket(my $r, PF_INET, SOCK_RAW, 1) ? "RAW\n" : "no raw socket: $!\n"; print socket(my $p, 17, SOCK_RAW, 0) ? "PACKET\n" : "no packet socket: $!\n"`
	perlBind := `use Socket; for my $port (80, 8080) { socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!"; setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1); print bind($s, pack_sockaddr_in($port, INADDR_ANY)) ? "BOUND $port\n" : "REFUSED $port $!\n" }`

	// Controls: host root in the fake host makes each change the
	// instance's root tries below, and undoes it.
	t.Run("controls: host root changes the fake host", func(t *testing.T) {
		h.mustRun(t, "sh", "-c", "echo 1500 > /sys/class/net/ib0/mtu")
		if got := strings.TrimSpace(h.output(t, "cat", "/sys/class/net/ib0/mtu")); got != "1500" {
			t.Errorf("host root's sysfs write left ib0's MTU at %s", got)
		}
		h.mustRun(t, "sh", "-c", "echo 2044 > /sys/class/net/ib0/mtu")
		h.mustRun(t, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/ib0/forwarding")
		if got := strings.TrimSpace(h.output(t, "cat", "/proc/sys/net/ipv4/conf/ib0/forwarding")); got != "1" {
			t.Errorf("host root's sysctl write left forwarding at %s", got)
		}
		h.mustRun(t, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/ib0/forwarding")
		h.mustRun(t, "ip", "rule", "add", "from", "all", "lookup", "100", "pref", "500")
		h.mustRun(t, "ip", "rule", "del", "pref", "500")
		h.mustRun(t, "ip", "link", "add", "atkveth", "type", "veth", "peer", "name", "atkveth1")
		h.mustRun(t, "ip", "link", "del", "atkveth")
		h.mustRun(t, "mknod", filepath.Join(t.TempDir(), "null"), "c", "1", "3")
		if out := h.mustRun(t, "perl", "-e", perlSockets); !strings.Contains(out, "RAW") || !strings.Contains(out, "PACKET") {
			t.Errorf("host root cannot open raw and packet sockets either: %q", out)
		}
		if out := h.mustRun(t, "perl", "-e", perlBind); !strings.Contains(out, "BOUND 80\n") {
			t.Errorf("host root cannot bind port 80 either: %q", out)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	waitNoTentative(t, h.fakeHost, "the controls")
	before := h.snapshot(t)

	withConf(t, "allow boot hostnet users = "+h.u.name)
	const name = "atkhost"
	stopped := false
	stop := func() {
		r := h.apptainer(t, "instance", "stop", "-t", "20", name)
		waitFor(t, 60*time.Second, "the processes of "+name+" to end", func() (bool, string) {
			procs := processesOf(h.u.uid)
			return len(procs) == 0, r.String() + "\n" + strings.Join(procs, "\n")
		})
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--fakeroot", "--boot-hostnet", sif, name), "the rootless boot on the fake host's network")
	// exec instance:// gives the instance's root a bounding set without
	// CAP_NET_ADMIN and CAP_NET_RAW (the host-network policy), but the
	// user owns the instance's user namespace, and setns(2) into it gives
	// every capability there. The attacker takes that way: nsenter, as
	// the user, from the user's delegated cgroup in the fake host, into
	// the namespaces (the network one is the fake host's already) and
	// the root of the instance's PID 1.
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	pid1 := fieldInt(t, instanceFields(t, filepath.Join(h.u.home, ".apptainer", "instances", "app", host, h.u.name, name, name+".json")), "pid")
	instArgs := func(args ...string) result {
		t.Helper()
		script := `cg=$1 uid=$2 gid=$3 pid=$4; shift 4
echo $$ > "$cg/cgroup.procs" && exec setpriv --reuid="$uid" --regid="$gid" --init-groups nsenter -t "$pid" -U -m -p -C -u -r -w -- "$@"`
		a := h.nsenterArgs(append([]string{"sh", "-c", script, "sh", h.cgroup, strconv.Itoa(h.u.uid), strconv.Itoa(h.u.gid), strconv.Itoa(pid1)}, args...)...)
		return runResult(t, exec.Command(a[0], a[1:]...))
	}
	inst := func(script string) result {
		t.Helper()
		return instArgs("/bin/sh", "-c", script)
	}

	// The attacker: root of the instance with every capability of its
	// user namespace, seeing the fake host's ib0 in /sys.
	r := inst("id -u; grep CapEff /proc/self/status; cat /sys/class/net/ib0/mtu")
	mustSucceed(t, r, "nsenter into the instance as its user")
	f := strings.Fields(r.Stdout)
	if len(f) != 4 || f[0] != "0" || f[3] != "2044" {
		t.Fatalf("want uid 0 and ib0's MTU 2044 inside, got %q", r.Stdout)
	}
	for name, bit := range map[string]uint{"CAP_SYS_ADMIN": 21, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_MKNOD": 27, "CAP_NET_BIND_SERVICE": 10, "CAP_DAC_OVERRIDE": 1} {
		if !capHeld(f[2], bit) {
			t.Fatalf("the instance's root lacks %s (CapEff %s): the attacks would fail for want of it, proving nothing", name, f[2])
		}
	}

	t.Run("sysfs of the host", func(t *testing.T) {
		r := inst(`mount -o remount,bind,rw /sys && echo LIFTED; echo 1500 > /sys/class/net/ib0/mtu && echo WROTE
mkdir -p /run/atk-sys && mount -t sysfs sysfs /run/atk-sys && echo MOUNTED`)
		t.Logf("what the attack saw:\n%s", r)
		if strings.Contains(r.Stdout, "LIFTED") {
			// Not a boundary: the flag is the instance's own mount's.
			// What protects the host is the kernel's check below.
			t.Log("the instance's root lifted /sys's read-only flag (its own mount namespace's bind)")
		}
		if strings.Contains(r.Stdout, "WROTE") || strings.Contains(r.Stdout, "MOUNTED") {
			t.Errorf("the instance's root wrote the host's sysfs or mounted its own:\n%s", r)
		}
		if got := strings.TrimSpace(h.output(t, "cat", "/sys/class/net/ib0/mtu")); got != "2044" {
			t.Errorf("ib0's MTU is %s after the attack", got)
		}
		// Control: a sysfs of a network namespace the instance's user
		// namespace owns mounts: the refusal above is the host's.
		r = inst(`unshare -mn sh -c 'mkdir -p /run/atk-sys2 && mount -t sysfs sysfs /run/atk-sys2 && echo MOUNTED'`)
		if !strings.Contains(r.Stdout, "MOUNTED") {
			t.Errorf("control: the instance's root cannot mount the sysfs of its own new network namespace either:\n%s", r)
		}
	})
	t.Run("net sysctls of the host", func(t *testing.T) {
		r := inst(`umount /proc/sys 2>/dev/null && echo UNCOVERED; echo 1 > /proc/sys/net/ipv4/conf/ib0/forwarding && echo WROTE1
mkdir -p /run/atk-proc && mount -t proc proc /run/atk-proc && echo MOUNTED && echo 1 > /run/atk-proc/sys/net/ipv4/conf/ib0/forwarding && echo WROTE2`)
		if strings.Contains(r.Stdout, "WROTE") {
			t.Errorf("the instance's root wrote a net sysctl of the host:\n%s", r)
		}
		t.Logf("what the attack saw:\n%s", r)
		t.Logf("lifted /proc/sys: %v; mounted a new procfs: %v", strings.Contains(r.Stdout, "UNCOVERED"), strings.Contains(r.Stdout, "MOUNTED"))
		if got := strings.TrimSpace(h.output(t, "cat", "/proc/sys/net/ipv4/conf/ib0/forwarding")); got != "0" {
			t.Errorf("ib0's forwarding is %s after the attack", got)
		}
	})
	t.Run("device nodes", func(t *testing.T) {
		r := inst(`mknod /run/atk-mem c 1 1 && echo MADE; mknod /run/atk-blk b 7 0 && echo MADE`)
		t.Logf("what the attack saw:\n%s", r)
		if strings.Contains(r.Stdout, "MADE") {
			t.Errorf("the instance's root made a device node:\n%s", r)
		}
	})
	t.Run("cgroups", func(t *testing.T) {
		// From a process of the instance (exec instance:// joins its
		// cgroup). Control: the instance's root writes its own cgroup
		// tree.
		execInst := func(script string) result {
			t.Helper()
			return h.apptainer(t, "exec", "instance://"+name, "sh", "-c", script)
		}
		r := execInst(`mkdir -p /sys/fs/cgroup/atk && echo $$ > /sys/fs/cgroup/atk/cgroup.procs && echo MOVED`)
		if !strings.Contains(r.Stdout, "MOVED") {
			t.Errorf("control: the instance's root cannot move into its own cgroup tree:\n%s", r)
		}
		// The attack: uncover the host's cgroup tree below the
		// instance's cgroup2 mount, and move into the root cgroups.
		// The instance's systemd keeps its cgroup2 mount busy: the
		// attack lifts it in a mount namespace of its own.
		script := fmt.Sprintf(`unshare -m sh -s <<'EOF'
umount -l /sys/fs/cgroup && echo UNCOVERED && ls /sys/fs/cgroup
for f in %[1]s/cgroup.procs /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/memory/cgroup.procs; do [ -e "$f" ] && echo $$ > "$f" && echo "ESCAPED $f"; done
echo $$ > %[2]s/cgroup.procs && echo DELEGATED
sh -c 'echo $$ > %[2]s/cgroup.procs; exec sleep 1000' </dev/null >/dev/null 2>&1 &
true
EOF`, unified, h.cgroup)
		r = execInst(script)
		t.Logf("what the attack saw:\n%s", r)
		if !strings.Contains(r.Stdout, "UNCOVERED") {
			t.Errorf("the attack could not uncover the host's cgroup tree, and proves nothing:\n%s", r)
		}
		if strings.Contains(r.Stdout, "ESCAPED") {
			t.Errorf("the instance's root moved into a root cgroup of the host:\n%s", r)
		}
		if strings.Contains(r.Stdout, "DELEGATED") {
			// The user's own cgroup (no nsdelegate on this host):
			// the process stays in the instance's PID namespace,
			// which the stop below ends (checked there).
			t.Log("the instance's root moved a process into the caller's delegated cgroup (the user's own; this host's cgroup2 has no nsdelegate)")
		}
		b, err := os.ReadFile(filepath.Join(unified, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		for _, pid := range strings.Fields(string(b)) {
			if st, err := os.ReadFile("/proc/" + pid + "/status"); err == nil {
				if ids := strings.Fields(statusText(string(st), "Uid")); len(ids) > 0 && ids[0] == strconv.Itoa(h.u.uid) {
					t.Errorf("a process of the user (PID %s) is in the root cgroup", pid)
				}
			}
		}
	})
	t.Run("links, addresses, rules and routes of the host", func(t *testing.T) {
		for _, attack := range [][]string{
			{"ip", "link", "set", "ib0", "down"},
			{"ip", "link", "set", "ib0", "mtu", "1500"},
			{"ip", "link", "set", "ib0", "netns", "1"},
			{"ip", "link", "add", "atkveth", "type", "veth", "peer", "name", "atkveth1"},
			{"ip", "addr", "add", "10.201.0.99/24", "dev", "ib0"},
			{"ip", "addr", "del", "10.201.0.2/24", "dev", "ib0"},
			{"ip", "rule", "add", "from", "all", "lookup", "100", "pref", "500"},
			{"ip", "rule", "del", "pref", "1000"},
			{"ip", "route", "add", "10.201.6.0/24", "via", "10.201.0.1", "dev", "ib0"},
			{"ip", "route", "del", "10.201.5.0/24", "table", "100"},
			{"ip", "neigh", "add", "10.201.0.77", "lladdr", "02:00:00:00:00:77", "dev", "ib0"},
		} {
			r := instArgs(attack...)
			t.Logf("%s: exit %d: %s", strings.Join(attack, " "), r.Code, strings.TrimSpace(r.Stderr))
			if r.Code == 0 {
				t.Errorf("the instance's root changed the host: %s succeeded\n%s", strings.Join(attack, " "), r)
			}
		}
	})
	t.Run("raw and packet sockets", func(t *testing.T) {
		r := instArgs("perl", "-e", perlSockets)
		t.Logf("what the attack saw:\n%s", r)
		if strings.Contains(r.Stdout, "RAW") || strings.Contains(r.Stdout, "PACKET") {
			t.Errorf("the instance's root opened a raw or packet socket on the host network:\n%s", r)
		}
	})
	t.Run("privileged port", func(t *testing.T) {
		r := instArgs("perl", "-e", perlBind)
		t.Logf("what the attack saw:\n%s", r)
		if strings.Contains(r.Stdout, "BOUND 80\n") || !strings.Contains(r.Stdout, "REFUSED 80") {
			t.Errorf("the instance's root bound port 80 of the host:\n%s", r)
		}
		// Control: the same code binds an ordinary port.
		if !strings.Contains(r.Stdout, "BOUND 8080") {
			t.Errorf("control: the instance's root cannot bind port 8080 either:\n%s", r)
		}
	})
	t.Run("a new user and network namespace reaches only itself", func(t *testing.T) {
		r := inst(`unshare -Urn sh -c 'ip link add atk0 type veth peer name atk1 && ip link set atk0 up && echo MADE'`)
		if !strings.Contains(r.Stdout, "MADE") {
			t.Errorf("control: the nested namespaces are not the instance's to configure:\n%s", r)
		}
		if out := h.output(t, "ip", "-o", "link"); strings.Contains(out, "atk0") {
			t.Errorf("the nested namespace's link is on the host:\n%s", out)
		}
	})
	assertUnchanged(t, "while the attacked instance runs", before, h.snapshot(t))
	stopped = true
	stop()
	assertUnchanged(t, "after the attacked instance stopped", before, h.snapshot(t))
	if procs := processesOf(h.u.uid); len(procs) > 0 {
		t.Errorf("processes of the user outlive the instance:\n%s", strings.Join(procs, "\n"))
	}
}

// TestAttackRootlessOtherUser: a second ordinary user goes after the
// first user's instance: joins it, stops it and reads its logs and
// runtime directory, through a copy of its instance file planted in the
// attacker's own store and through the victim's configuration directory,
// with the victim's home readable by everyone. The kernel refuses each;
// the owner does each (the controls).
func TestAttackRootlessOtherUser(t *testing.T) {
	rootlessSetup(t)
	victim := newTestUser(t)
	attacker := newOtherUser(t, "x")
	const name = "vic"
	mustSucceed(t, victim.run(t, "instance", "start", env.Busybox, name), "the victim's instance start")
	t.Cleanup(func() { victim.run(t, "instance", "stop", "-F", name) })
	vs := storeOf(t, victim)
	file := filepath.Join(vs.app, name, name+".json")
	fields := instanceFields(t, file)
	ppid, pid := fieldInt(t, fields, "ppid"), fieldInt(t, fields, "pid")
	// The worst case a site gives: homes and configuration directories
	// every user may enter and list.
	for _, d := range []string{victim.home, filepath.Join(victim.home, ".apptainer")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	as := storeOf(t, attacker)
	plantInstanceFile(t, attacker, as, name, fields)

	t.Run("join", func(t *testing.T) {
		r := attacker.run(t, "exec", "instance://"+name, "sh", "-c", "echo JOINED")
		if r.Code == 0 || strings.Contains(r.Stdout, "JOINED") {
			t.Errorf("the attacker joined the victim's instance through a copy of its file:\n%s", r)
		}
		r = asUser(t, attacker, []string{"APPTAINER_CONFIGDIR=" + filepath.Join(victim.home, ".apptainer")}, env.Bin, "exec", "instance://"+name, "sh", "-c", "echo JOINED")
		if r.Code == 0 || strings.Contains(r.Stdout, "JOINED") {
			t.Errorf("the attacker joined the victim's instance through the victim's configuration directory:\n%s", r)
		}
		// Control: the owner joins.
		r = victim.run(t, "exec", "instance://"+name, "sh", "-c", "echo JOINED")
		if !strings.Contains(r.Stdout, "JOINED") {
			t.Errorf("control: the owner cannot join either:\n%s", r)
		}
	})
	t.Run("stop", func(t *testing.T) {
		for _, args := range [][]string{{"instance", "stop", "-t", "1", name}, {"instance", "stop", "-F", name}, {"instance", "stop", "--all"}} {
			attacker.run(t, args...)
			asUser(t, attacker, []string{"APPTAINER_CONFIGDIR=" + filepath.Join(victim.home, ".apptainer")}, env.Bin, args...)
		}
		for what, p := range map[string]int{"monitor": ppid, "PID 1": pid} {
			if !processAlive(p) {
				t.Errorf("the victim's instance's %s (PID %d) is gone after the attacker's stops", what, p)
			}
		}
		if _, err := os.Stat(file); err != nil {
			t.Errorf("the victim's instance file is gone after the attacker's stops: %v", err)
		}
	})
	t.Run("logs and runtime directory", func(t *testing.T) {
		targets := []string{filepath.Join(vs.logs, name+".out"), filepath.Join(vs.logs, name+".err"), filepath.Join(vs.run, name, "monitor"), file}
		for _, p := range targets {
			if r := asUser(t, attacker, nil, "cat", p); r.Code == 0 {
				t.Errorf("the attacker read %s:\n%s", p, r)
			}
			// Control: the owner reads it.
			mustSucceed(t, asUser(t, victim, nil, "cat", p), "control: the owner reads "+p)
		}
		if r := asUser(t, attacker, nil, "ls", filepath.Join(vs.run, name)); r.Code == 0 {
			t.Errorf("the attacker listed the victim's runtime directory:\n%s", r)
		}
	})
	t.Run("ghost cleanup aimed at the victim", func(t *testing.T) {
		ghost := map[string]any{}
		for k, v := range fields {
			ghost[k] = v
		}
		ghost["name"], ghost["ppid"], ghost["runDir"] = "ghost", deadPid(t), filepath.Join(vs.run, name)
		plantInstanceFile(t, attacker, as, "ghost", ghost)
		attacker.run(t, "instance", "list")
		if _, err := os.Stat(filepath.Join(as.app, "ghost")); !os.IsNotExist(err) {
			t.Errorf("control: the attacker's listing did not take the forged file for a ghost (%v)", err)
		}
		if _, err := os.Stat(filepath.Join(vs.run, name, "monitor")); err != nil {
			t.Errorf("the victim's runtime directory is damaged after the attacker's listing: %v", err)
		}
	})
	mustSucceed(t, victim.run(t, "exec", "instance://"+name, "true"), "the victim's instance still works")
	mustSucceed(t, victim.run(t, "instance", "stop", name), "control: the owner stops the instance")
	waitFor(t, 30*time.Second, "the victim's processes to end", func() (bool, string) {
		procs := processesOf(victim.uid)
		return len(procs) == 0, strings.Join(procs, "\n")
	})
}

// decoy starts a root process whose command line is a monitor's (what the
// runtime's liveness check looks for) with a child, in a cgroup of its
// own, and returns the two PIDs and the cgroup.
func decoy(t *testing.T, owner string) (monitor, child int, cg string) {
	t.Helper()
	cg = filepath.Join(unifiedMount(t), "e2e-attack-decoy-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroupTree(t, cg) })
	c := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" || exit 1; sleep 1000 & wait`, "sh", cg)
	c.Args[0] = instance.MonitorPrefix + ": " + owner + " [forged]"
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL); _ = c.Wait() })
	monitor = c.Process.Pid
	waitFor(t, 10*time.Second, "the decoy's child to run in its cgroup", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		for _, p := range strings.Fields(string(b)) {
			if n, _ := strconv.Atoi(p); n != 0 {
				if ppidOf(n) == monitor {
					child = n
					return true, ""
				}
			}
		}
		return false, string(b)
	})
	return monitor, child, cg
}

// TestAttackRootlessRootOnUserStore: a user plants instance files in the
// own store for root's `instance list/stop/stats -u USER` to act on: one
// whose monitor is a root process made to look like one (with a child as
// PID 1, a root-owned runtime directory, a root cgroup and terminal
// escapes in the fields printed), a ghost naming root's directory and
// cgroup, a file that links elsewhere, a directory that links elsewhere
// and an oversized file. Root signals nothing, removes nothing of its
// own and prints no escape. Controls: the user's genuine instance is
// listed; the forged file passes the runtime's own process checks (its
// PID 1 counts as the live child of a live monitor), so only the
// runtime's record stands between root and the decoy; the ghost's file is
// reaped.
func TestAttackRootlessRootOnUserStore(t *testing.T) {
	rootlessSetup(t)
	u := newTestUser(t)
	s := storeOf(t, u)
	mustSucceed(t, u.run(t, "instance", "start", env.Busybox, "real"), "the user's instance start")
	t.Cleanup(func() { u.run(t, "instance", "stop", "-F", "real") })
	real := instanceFields(t, filepath.Join(s.app, "real", "real.json"))

	monitor, child, cg := decoy(t, u.name)
	canary := readableDir(t)
	if err := os.WriteFile(filepath.Join(canary, "monitor"), []byte(strconv.Itoa(monitor)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(canary, "secret")
	if err := os.WriteFile(secret, []byte("TOPSECRET-canary\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const esc = "\x1b]0;pwned\x07\x1b[2J\u009b31m"
	forged := map[string]any{}
	for k, v := range real {
		forged[k] = v
	}
	forged["name"], forged["pid"], forged["ppid"] = "forged", child, monitor
	forged["runDir"], forged["cgroupPaths"], forged["cgroup"] = canary, []string{cg}, true
	forged["image"], forged["logErrPath"], forged["logOutPath"], forged["ip"] = "/img"+esc, "/err"+esc, "/out"+esc, "10.0.0.1"+esc
	forged["boot"], forged["bootHostnet"], forged["state"] = true, true, "running"
	plantInstanceFile(t, u, s, "forged", forged)
	ghost := map[string]any{}
	for k, v := range forged {
		ghost[k] = v
	}
	ghost["name"], ghost["ppid"] = "ghost", deadPid(t)
	plantInstanceFile(t, u, s, "ghost", ghost)
	plantDir(t, u, filepath.Join(s.app, "linkedfile"))
	if err := os.Symlink(secret, filepath.Join(s.app, "linkedfile", "linkedfile.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(canary, filepath.Join(s.app, "linkeddir")); err != nil {
		t.Fatal(err)
	}
	plantDir(t, u, filepath.Join(s.app, "huge"))
	huge := filepath.Join(s.app, "huge", "huge.json")
	if err := os.WriteFile(huge, []byte(`{"name":"huge","image":"`+strings.Repeat("A", 17<<20)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}

	// Control: by the runtime's own look at processes, the forged file
	// is a live instance whose PID 1 may be signalled.
	if !instance.InitAlive(&instance.File{Pid: child, PPid: monitor}) {
		t.Fatal("control: the forged file's monitor and PID 1 do not pass the runtime's process checks; the attack proves nothing")
	}

	var outs []string
	for _, args := range [][]string{
		{"instance", "list", "-u", u.name},
		{"instance", "list", "-u", u.name, "--json"},
		{"instance", "list", "-u", u.name, "--logs"},
	} {
		r := apptainer(t, args...)
		noTerminalControls(t, strings.Join(args, " "), r.Stdout+r.Stderr)
		if !strings.Contains(r.Stdout, "real") {
			t.Errorf("control: %s does not list the user's genuine instance:\n%s", strings.Join(args, " "), r)
		}
		outs = append(outs, r.Stdout+r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(s.app, "ghost")); !os.IsNotExist(err) {
		t.Errorf("control: root's listing did not reap the forged ghost's file (%v)", err)
	}
	for _, args := range [][]string{
		{"instance", "stop", "-u", u.name, "forged"},
		{"instance", "stop", "-u", u.name, "-F", "forged"},
		{"instance", "stop", "-u", u.name, "-s", "KILL", "forged"},
		{"instance", "stop", "-u", u.name, "--all"},
		{"instance", "stats", "-u", u.name, "--no-stream", "forged"},
		{"instance", "stats", "-u", u.name, "--json", "forged"},
	} {
		r := apptainer(t, args...)
		noTerminalControls(t, strings.Join(args, " "), r.Stdout+r.Stderr)
		outs = append(outs, r.Stdout+r.Stderr)
	}
	for _, o := range outs {
		if strings.Contains(o, "TOPSECRET") {
			t.Errorf("root printed the content of a file the user linked:\n%s", o)
		}
	}
	for what, p := range map[string]int{"decoy monitor": monitor, "decoy PID 1": child} {
		if !processAlive(p) {
			t.Errorf("root's commands on the user's store ended the %s (PID %d), a root process", what, p)
		}
	}
	for _, p := range []string{filepath.Join(canary, "monitor"), secret, cg} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("root's commands on the user's store removed %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cg, "cgroup.procs")); err == nil {
		if b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs")); len(strings.Fields(string(b))) == 0 {
			t.Errorf("the decoy's cgroup was emptied")
		}
	}
	// What root does to a genuine rootless instance of the user: recorded
	// for the report, not a safety property.
	r := apptainer(t, "instance", "stop", "-u", u.name, "real")
	t.Logf("root's instance stop -u %s real: exit %d: %s", u.name, r.Code, strings.TrimSpace(r.Stderr))
}

// TestAttackRootlessHostileLinks: an image whose /etc/localtime,
// /etc/hosts and /etc/resolv.conf — the files the runtime binds from the
// host — are symbolic links out of the image (climbing with .., through
// /proc/self/root, absolute), to a directory the user may write and to a
// file only root may read. The whiteouts that hide them are made in the
// container's own upper layer: nothing appears in the user's directory,
// the host's files are bound in their place, and a link the runtime does
// not replace reads nothing the user could not read on the host.
// Controls: the user writes the target directory; a link of the same kind
// to a file the user may read reads it.
func TestAttackRootlessHostileLinks(t *testing.T) {
	rootlessSetup(t)
	u := newTestUser(t)
	usableFuse(t)
	victim := filepath.Join(u.home, "victim")
	plantDir(t, u, victim)
	if err := os.Chmod(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := readableDir(t)
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("TOPSECRET-links\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	public := filepath.Join(dir, "public")
	if err := os.WriteFile(public, []byte("PUBLIC-links\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "hostile")
	if out, err := exec.Command("cp", "-a", env.Busybox, img).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	climb := strings.Repeat("../", 12)
	for link, target := range map[string]string{
		"etc/localtime":   climb + strings.TrimPrefix(victim, "/") + "/localtime",
		"etc/hosts":       victim + "/hosts",
		"etc/resolv.conf": "/proc/self/root" + secret,
		"etc/motd":        "/proc/self/root" + secret,
		"etc/issue":       "/proc/self/root" + public,
		"etc/shadowlink":  climb + strings.TrimPrefix(secret, "/"),
	} {
		p := filepath.Join(img, link)
		_ = os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	sif := filepath.Join(dir, "hostile.sif")
	mustSucceed(t, apptainer(t, "build", sif, img), "build the hostile SIF")
	if err := os.Chmod(sif, 0o644); err != nil {
		t.Fatal(err)
	}
	// Control: the victim directory is the user's to write.
	mustSucceed(t, asUser(t, u, nil, "sh", "-c", "touch "+victim+"/probe && rm "+victim+"/probe"), "control: the user writes the victim directory")
	hostZone, _ := os.ReadFile("/etc/localtime")
	hostHosts, _ := os.ReadFile("/etc/hosts")

	for _, tc := range []struct {
		what string
		args []string
	}{
		{"sandbox", []string{img}},
		{"SIF", []string{sif}},
		{"sandbox --fakeroot", []string{"--fakeroot", img}},
		{"SIF --writable-tmpfs", []string{"--writable-tmpfs", sif}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			args := append(append([]string{"exec"}, tc.args...), "sh", "-c",
				`md5sum < /etc/localtime; echo HOSTS; cat /etc/hosts; echo RESOLV; cat /etc/resolv.conf; echo MOTD; cat /etc/motd; cat /etc/shadowlink; echo ISSUE; cat /etc/issue; true`)
			r := u.run(t, args...)
			mustSucceed(t, r, "exec of the hostile image")
			if strings.Contains(r.Stdout, "TOPSECRET") {
				t.Errorf("the container read a file only root may read:\n%s", r)
			}
			// Control: the same kind of link to a readable file reads it.
			if !strings.Contains(r.Stdout, "PUBLIC-links") {
				t.Errorf("control: a link through /proc/self/root to a readable host file reads nothing:\n%s", r)
			}
			if len(hostZone) > 0 {
				want := output(t, "sh", "-c", "md5sum < /etc/localtime")
				if got, _, _ := strings.Cut(r.Stdout, "\n"); got != want {
					t.Errorf("/etc/localtime inside has checksum %q, want the host's %q\n%s", got, want, r)
				}
			}
			if hosts := between(r.Stdout, "HOSTS\n", "RESOLV\n"); len(hostHosts) > 0 && hosts != string(hostHosts) {
				t.Errorf("/etc/hosts inside is %q, want the host's %q", hosts, hostHosts)
			}
			names, err := os.ReadDir(victim)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				t.Errorf("the runtime made %s in the user's directory, where the image's link pointed", filepath.Join(victim, n.Name()))
			}
		})
	}
	if names, _ := os.ReadDir(dir); len(names) != 4 {
		var ns []string
		for _, n := range names {
			ns = append(ns, n.Name())
		}
		t.Errorf("the directory of the link targets now holds %v, want hostile, hostile.sif, public and secret", ns)
	}
}

// between is the text of s from after start up to end.
func between(s, start, end string) string {
	_, rest, _ := strings.Cut(s, start)
	v, _, _ := strings.Cut(rest, end)
	return v
}

// TestAttackRootlessGhost: the user's monitor is killed; the user's next
// listing removes the dead instance's runtime directory (the control),
// but forged instance files of the user's whose runtime directory is
// another directory of the home, a link to one, or a directory another
// monitor claimed, remove nothing.
func TestAttackRootlessGhost(t *testing.T) {
	rootlessSetup(t)
	u := newTestUser(t)
	s := storeOf(t, u)
	const name = "ghosted"
	mustSucceed(t, u.run(t, "instance", "start", env.Busybox, name), "the user's instance start")
	t.Cleanup(func() { u.run(t, "instance", "stop", "-F", name) })
	fields := instanceFields(t, filepath.Join(s.app, name, name+".json"))
	monitor := fieldInt(t, fields, "ppid")
	if err := syscall.Kill(monitor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the instance's processes to end with its monitor", func() (bool, string) {
		procs := processesOf(u.uid)
		return len(procs) == 0, strings.Join(procs, "\n")
	})
	runDir := filepath.Join(s.run, name)
	if _, err := os.Stat(filepath.Join(runDir, "monitor")); err != nil {
		t.Fatalf("the killed monitor left no runtime directory to clean up; the control proves nothing: %v", err)
	}

	dead := strconv.Itoa(monitor)
	precious := map[string]string{}
	forge := func(fname, runDirOf string) {
		f := map[string]any{}
		for k, v := range fields {
			f[k] = v
		}
		f["name"], f["runDir"] = fname, runDirOf
		plantInstanceFile(t, u, s, fname, f)
	}
	keep := func(label string) string {
		d := filepath.Join(u.home, label)
		plantDir(t, u, d)
		p := filepath.Join(d, "monitor")
		if err := os.WriteFile(p, []byte(dead+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
		precious[label] = p
		return d
	}
	// A runtime directory elsewhere in the home, owned by the dead monitor.
	forge("elsewhere", keep("precious1"))
	// A runtime directory of the right name that links elsewhere.
	if err := os.Symlink(keep("precious2"), filepath.Join(s.run, "linked")); err != nil {
		t.Fatal(err)
	}
	forge("linked", filepath.Join(s.run, "linked"))
	// A runtime directory climbing out of the parent.
	forge("climb", filepath.Join(s.run, "..", "..", "..", "..", "precious3"))
	keep("precious3")
	// A runtime directory of the right place, claimed by another monitor.
	claimed := filepath.Join(s.run, "claimed")
	plantDir(t, u, claimed)
	if err := os.WriteFile(filepath.Join(claimed, "monitor"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	precious["claimed"] = filepath.Join(claimed, "monitor")
	forge("claimed", claimed)

	mustSucceed(t, u.run(t, "instance", "list"), "the user's listing")
	if _, err := os.Lstat(runDir); !os.IsNotExist(err) {
		t.Errorf("control: the dead instance's runtime directory %s is left after the listing (%v)", runDir, err)
	}
	for _, n := range []string{name, "elsewhere", "linked", "climb", "claimed"} {
		if _, err := os.Lstat(filepath.Join(s.app, n)); !os.IsNotExist(err) {
			t.Errorf("the ghost's instance file %s is left after the listing (%v)", n, err)
		}
	}
	for label, p := range precious {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the ghost cleanup removed %s (%s): %v", label, p, err)
		}
	}
}

// TestAttackRootlessBootHostnetGate: a user whom apptainer.conf does not
// list for "allow boot hostnet" tries other ways onto the host network
// with a booted instance: --netns-path naming the host's namespace, and
// the same through the environment. Each is refused or leaves the
// instance in a network namespace of its own. Control: once listed, the
// user's --boot-hostnet instance is in the host's namespace, as the
// check below sees it.
func TestAttackRootlessBootHostnetGate(t *testing.T) {
	h, sif := newRootlessHost(t)
	hostNS := readNS(t, h.NetNS)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	// netnsOf starts instance name with args as the user and returns the
	// network namespace of its PID 1, "" when the start was refused.
	netnsOf := func(t *testing.T, name string, extraEnv []string, args ...string) string {
		t.Helper()
		full := append(append([]string{"instance", "start", "--boot", "--fakeroot"}, args...), sif, name)
		var r result
		if len(extraEnv) > 0 {
			// The variables come after setpriv's env, as env(1)
			// assignments before the binary.
			full = append(append(extraEnv, env.Bin), full...)
			script := `cg=$1 uid=$2 gid=$3 home=$4; shift 4
echo $$ > "$cg/cgroup.procs" && exec setpriv --reuid="$uid" --regid="$gid" --init-groups env HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin LANG=C "$@"`
			a := h.nsenterArgs(append([]string{"sh", "-c", script, "sh", h.cgroup, strconv.Itoa(h.u.uid), strconv.Itoa(h.u.gid), h.u.home}, full...)...)
			r = runResult(t, exec.Command(a[0], a[1:]...))
		} else {
			r = h.apptainer(t, full...)
		}
		if r.Code != 0 {
			t.Logf("refused: %s", strings.TrimSpace(r.Stderr))
			return ""
		}
		t.Cleanup(func() {
			h.apptainer(t, "instance", "stop", "-t", "20", name)
			waitFor(t, 60*time.Second, "the processes of "+name+" to end", func() (bool, string) {
				procs := processesOf(h.u.uid)
				return len(procs) == 0, strings.Join(procs, "\n")
			})
		})
		pid := fieldInt(t, instanceFields(t, filepath.Join(h.u.home, ".apptainer", "instances", "app", host, h.u.name, name, name+".json")), "pid")
		return readNS(t, fmt.Sprintf("/proc/%d/ns/net", pid))
	}
	t.Run("--netns-path to the host's namespace", func(t *testing.T) {
		if ns := netnsOf(t, "gate1", nil, "--netns-path", h.NetNS); ns == hostNS {
			t.Errorf("an unlisted user's booted instance is on the host network through --netns-path")
		}
	})
	t.Run("APPTAINER_NETNS_PATH to the host's namespace", func(t *testing.T) {
		if ns := netnsOf(t, "gate2", []string{"APPTAINER_NETNS_PATH=" + h.NetNS}); ns == hostNS {
			t.Errorf("an unlisted user's booted instance is on the host network through APPTAINER_NETNS_PATH")
		}
	})
	t.Run("APPTAINER_BOOT_HOSTNET", func(t *testing.T) {
		if ns := netnsOf(t, "gate3", []string{"APPTAINER_BOOT_HOSTNET=1"}); ns == hostNS {
			t.Errorf("an unlisted user's booted instance is on the host network through APPTAINER_BOOT_HOSTNET")
		}
	})
	t.Run("control: a listed user's --boot-hostnet", func(t *testing.T) {
		withConf(t, "allow boot hostnet users = "+h.u.name)
		if ns := netnsOf(t, "gate4", nil, "--boot-hostnet"); ns != hostNS {
			t.Errorf("control: the listed user's --boot-hostnet instance is in %q, not the host's %q", ns, hostNS)
		}
	})
}
