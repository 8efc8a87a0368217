package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rootlessGroup measures what running without root costs, each case
// against root doing the same with the same SIF in the same run:
// `exec SIF /bin/true` by an ordinary user (squashfuse, a user namespace
// of the user's own ids) against root (the kernel's squashfs through a
// loop device), and a booted instance's start→READY by the user
// (`--boot --fakeroot`) against root's `--boot --boot-hostnet` in a user
// namespace. The user is made for the run and removed at cleanup.
func (r *runner) rootlessGroup(ctx context.Context, c config) error {
	userExec, rootExec := r.s(caseUserExecSIF, Seconds), r.s(caseRootExecSIF, Seconds)
	userStart, rootStart := r.s(caseUserStart, Seconds), r.s(caseRootUsernsStart, Seconds)
	sif, err := r.benchSIF()
	if err != nil {
		return err
	}
	if err := r.rootlessHost(c); err != nil {
		return err
	}
	u, err := r.newBenchUser()
	if err != nil {
		return err
	}
	// Two warm-up rounds are not counted; the user's exec is tried in the
	// first, and when it fails there the row says why.
	for i := -2; i < c.Execs && ctx.Err() == nil; i++ {
		if userExec.Unmeasured == "" {
			du, stderr, err := u.timed("exec", sif, "/bin/true")
			refused := ""
			if err != nil {
				refused = refusalReason(stderr)
			}
			if err := record(userExec, i, i == -2, du, refused); err != nil {
				return err
			}
		}
		dr, err := r.timedApp("exec", sif, "/bin/true")
		if err != nil {
			return err
		}
		if i >= 0 {
			rootExec.AddDuration(dr)
		}
	}
	// One boot each first, not counted; the user's boot is tried there,
	// and when this build refuses it the row says why.
	for i := -1; i < c.Boots && ctx.Err() == nil; i++ {
		keep := i >= 0
		name := fmt.Sprintf("bench-rlroot-%d", i+1)
		d, err := r.startInstance("--boot", "--boot-hostnet", "--boot-hostnet-userns", sif, name)
		if err != nil {
			return err
		}
		if _, err := r.app("instance", "stop", "-t", "20", name); err != nil {
			return err
		}
		if keep {
			rootStart.AddDuration(d)
		}
		if userStart.Unmeasured == "" {
			if err := u.measureBoot(userStart, sif, i); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "rootless boot %d/%d done\n", i+1, c.Boots)
	}
	return ctx.Err()
}

// measureBoot is round i of the user's booted start (-1: the warm-up).
func (u *benchUser) measureBoot(s *Series, sif string, i int) error {
	d, refused, err := u.bootStop(sif, fmt.Sprintf("bench-rluser-%d", i+1))
	if err != nil {
		return err
	}
	return record(s, i, i == -1, d, refused)
}

// record files one timed attempt of round (negative: a warm-up, not
// counted) of a case that this build may refuse. Refused at the first
// attempt, the case is marked unmeasured with the reason and not tried
// again; refused after that, the refusal is a failure: something broke
// between attempts that had worked.
func record(s *Series, round int, first bool, d time.Duration, refused string) error {
	switch {
	case refused != "" && first:
		s.Unmeasured = refused
		fmt.Fprintf(os.Stderr, "rootless: %q is not measured: %s\n", s.Name, refused)
	case refused != "":
		return fmt.Errorf("%s: round %d failed after earlier ones worked: %s", s.Name, round, refused)
	case round >= 0:
		s.AddDuration(d)
	}
	return nil
}

// benchSIF builds a SIF of the bench image once per run, readable by
// every user.
func (r *runner) benchSIF() (string, error) {
	dir := filepath.Join(r.Top, "sif")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	sif := filepath.Join(dir, "bench.sif")
	if _, err := os.Stat(sif); err == nil {
		return sif, nil
	}
	fmt.Fprintln(os.Stderr, "rootless: building a SIF of the bench image")
	if _, err := r.app("build", sif, r.Image); err != nil {
		return "", err
	}
	return sif, os.Chmod(sif, 0o644)
}

// rootlessHost gives the run what an installed system gives users: the
// session mount point `make install` creates and a /dev/fuse they may
// open. Where only root may open the machine's node (no udev here), a
// 0666 node of the same device is bound over it in the bench's private
// mount namespace, as Debian's udev rules would make it; the machine's
// /dev/fuse itself is never changed.
func (r *runner) rootlessHost(c config) error {
	if c.Binary == "" {
		if err := os.MkdirAll(filepath.Join(r.Top, "var", "apptainer", "mnt", "session"), 0o755); err != nil {
			return err
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/dev/fuse", &st); err != nil {
		return fmt.Errorf("no /dev/fuse: %w", err)
	}
	if st.Mode&0o006 == 0o006 {
		return nil
	}
	node := filepath.Join(r.Top, "fuse")
	if err := syscall.Mknod(node, syscall.S_IFCHR|0o666, int(st.Rdev)); err != nil {
		return fmt.Errorf("failed to make a fuse node: %w", err)
	}
	if err := os.Chmod(node, 0o666); err != nil {
		return err
	}
	if err := syscall.Mount(node, "/dev/fuse", "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("failed to bind a usable fuse node over /dev/fuse: %w", err)
	}
	r.defer_(func() {
		if err := syscall.Unmount("/dev/fuse", syscall.MNT_DETACH); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cannot undo the /dev/fuse bind:", err)
		}
	})
	return nil
}

// benchUser is the ordinary user made for one run.
type benchUser struct {
	bin      string // apptainer under test
	name     string
	uid, gid int
	home     string
	ids      idSet // its uid and subordinate ranges: what its containers run as
	// cgroup is the cgroup2 cgroup delegated to the user, as systemd's
	// user manager delegates one, which its commands start in: a booted
	// instance's cgroup is made below it. cgroupDir is open on it.
	cgroup    string
	cgroupDir *os.File
}

// newBenchUser adds a user with a home in the scratch tree (useradd gives
// it subordinate ranges where /etc/subuid exists) and registers its
// removal. No process may run as any of its ids yet: then every process
// that does later is the run's, and the cleanup may end it.
func (r *runner) newBenchUser() (*benchUser, error) {
	name := fmt.Sprintf("aptbench%d", os.Getpid()%1000000)
	home := filepath.Join(r.Top, "home-"+name)
	if out, err := exec.Command("useradd", "-m", "-d", home, "-s", "/bin/sh", "-U", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("useradd %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	u := &benchUser{bin: r.Bin, name: name, home: home}
	r.defer_(u.remove)
	lu, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	u.uid, _ = strconv.Atoi(lu.Uid)
	u.gid, _ = strconv.Atoi(lu.Gid)
	if u.uid <= 0 || u.gid <= 0 {
		return nil, fmt.Errorf("implausible ids %s:%s for %s", lu.Uid, lu.Gid, name)
	}
	u.ids = idSet{uid: u.uid}
	if b, err := os.ReadFile("/etc/subuid"); err == nil {
		u.ids.ranges = parseSubIDs(string(b), name)
	}
	if procs := processesOf(u.ids); len(procs) > 0 {
		u.ids = idSet{} // not ours to end
		return nil, fmt.Errorf("processes already run as the new user %s's ids:\n%s", name, strings.Join(procs, "\n"))
	}
	if err := u.delegateCgroup(); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "rootless: user %s (uid %d, subordinate uids %v, delegated cgroup %s)\n", name, u.uid, u.ids.ranges, u.cgroup)
	return u, nil
}

// delegateCgroup makes the user's delegated cgroup: a cgroup2 directory
// whose directory, cgroup.procs, cgroup.subtree_control and cgroup.threads
// are the user's, as systemd hands them over (Delegate=yes). remove takes
// it away.
func (u *benchUser) delegateCgroup() error {
	mnt := ""
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st syscall.Statfs_t
		if syscall.Statfs(p, &st) == nil && st.Type == 0x63677270 { // CGROUP2_SUPER_MAGIC
			mnt = p
			break
		}
	}
	if mnt == "" {
		return errors.New("no cgroup2 hierarchy: a user's booted instance needs one")
	}
	dir := filepath.Join(mnt, "apptainer-bench-"+u.name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	u.cgroup = dir
	for _, p := range []string{dir, filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cgroup.subtree_control"), filepath.Join(dir, "cgroup.threads")} {
		if err := os.Chown(p, u.uid, u.gid); err != nil {
			return err
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	u.cgroupDir = f
	return nil
}

// removeCgroup removes the delegated cgroup and what the user's instances
// left below it, deepest first.
func (u *benchUser) removeCgroup() {
	if u.cgroupDir != nil {
		u.cgroupDir.Close()
	}
	var dirs []string
	_ = filepath.WalkDir(u.cgroup, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cannot remove cgroup %s: %v\n", dirs[i], err)
		}
	}
}

// remove stops the user's instances, ends what still runs as its ids
// (all the run's: see newBenchUser) and deletes the user and its home.
func (u *benchUser) remove() {
	if u.uid > 0 {
		_ = u.cmd("instance", "stop", "--all", "-t", "20").Run()
		if left := u.waitGone(30 * time.Second); len(left) > 0 {
			for _, p := range left {
				pid, _, _ := strings.Cut(p, ":")
				if n, err := strconv.Atoi(pid); err == nil {
					_ = syscall.Kill(n, syscall.SIGKILL)
				}
			}
			if left := u.waitGone(10 * time.Second); len(left) > 0 {
				fmt.Fprintf(os.Stderr, "bench: processes of %s survived SIGKILL:\n%s\n", u.name, strings.Join(left, "\n"))
			}
		}
	}
	if u.cgroup != "" {
		u.removeCgroup()
	}
	if out, err := exec.Command("userdel", "-r", u.name).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: userdel -r %s: %v: %s\n", u.name, err, bytes.TrimSpace(out))
	}
}

// waitGone waits until no process runs as the user's ids and returns
// those still running when the time is up.
func (u *benchUser) waitGone(limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		left := processesOf(u.ids)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cmd is apptainer ARGS as the user, in its home, with its own
// environment and group only.
func (u *benchUser) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(u.bin, args...)
	cmd.Dir = u.home
	cmd.Env = []string{"HOME=" + u.home, "USER=" + u.name, "LOGNAME=" + u.name,
		"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{uint32(u.gid)}}}
	if u.cgroupDir != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(u.cgroupDir.Fd())
	}
	return cmd
}

// run runs apptainer as the user; the error carries its standard error.
func (u *benchUser) run(args ...string) (stdout, stderr string, err error) {
	cmd := u.cmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("apptainer %s as %s: %w: %s", strings.Join(args, " "), u.name, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), err
}

// timed is run with the wall time of the whole call.
func (u *benchUser) timed(args ...string) (time.Duration, string, error) {
	t0 := time.Now()
	_, stderr, err := u.run(args...)
	return time.Since(t0), stderr, err
}

// bootStop times the user's `instance start --boot --fakeroot`, stops the
// instance as the user and checks that nothing of it is left. A start
// that fails comes back as refused (the first line of its message) after
// the same check; err is for what the bench itself could not do or for
// an instance that would not go away.
func (u *benchUser) bootStop(image, name string) (d time.Duration, refused string, err error) {
	t0 := time.Now()
	_, stderr, startErr := u.run("instance", "start", "--boot", "--fakeroot", image, name)
	d = time.Since(t0)
	if startErr != nil {
		refused = refusalReason(stderr)
		_, _, _ = u.run("instance", "stop", "-t", "20", name)
	} else if _, _, err := u.run("instance", "stop", "-t", "20", name); err != nil {
		return d, "", err
	}
	if left := u.waitGone(30 * time.Second); len(left) > 0 {
		return d, refused, fmt.Errorf("processes of %s still run after instance stop %s:\n%s", u.name, name, strings.Join(left, "\n"))
	}
	out, _, err := u.run("instance", "list", "--json")
	if err != nil {
		return d, refused, err
	}
	l, err := parseList(out)
	if err != nil {
		return d, refused, err
	}
	if len(l) > 0 {
		return d, refused, fmt.Errorf("instance list of %s still shows %v after instance stop %s", u.name, l, name)
	}
	return d, refused, nil
}

// idRange is one subordinate id range: count ids from start on.
type idRange struct{ start, count int }

// idSet is a user's uid and its subordinate uids.
type idSet struct {
	uid    int
	ranges []idRange
}

// has reports whether id is the user's or one of its subordinate ids.
// The zero idSet has none (uid 0 is never a bench user's).
func (s idSet) has(id int) bool {
	if s.uid > 0 && id == s.uid {
		return true
	}
	for _, r := range s.ranges {
		if id >= r.start && id < r.start+r.count {
			return true
		}
	}
	return false
}

// parseSubIDs returns name's ranges from the text of /etc/subuid or
// /etc/subgid ("name:start:count" lines). Lines of other users, comments
// and malformed or empty ranges are skipped.
func parseSubIDs(text, name string) []idRange {
	var out []idRange
	for _, line := range strings.Split(text, "\n") {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) != 3 || f[0] != name {
			continue
		}
		start, err1 := strconv.Atoi(f[1])
		count, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || start < 0 || count <= 0 {
			continue
		}
		out = append(out, idRange{start, count})
	}
	return out
}

// statusUIDs returns the real, effective, saved and filesystem uids of a
// /proc/PID/status text.
func statusUIDs(status string) []int {
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != "Uid" {
			continue
		}
		var ids []int
		for _, f := range strings.Fields(v) {
			if n, err := strconv.Atoi(f); err == nil {
				ids = append(ids, n)
			}
		}
		return ids
	}
	return nil
}

// processesOf lists "PID: cmdline" of the processes with any uid in ids.
func processesOf(ids idSet) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, id := range statusUIDs(string(st)) {
			if ids.has(id) {
				cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				out = append(out, e.Name()+": "+strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " "))
				break
			}
		}
	}
	return out
}
