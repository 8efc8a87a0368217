package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// execGroup times entering a running booted instance against the floor:
// nsenter joining all of init's namespaces, measured alternately.
func (r *runner) execGroup(ctx context.Context, c config) error {
	ex, floor, cli := r.s(caseExec, Seconds), r.s(caseNsenter, Seconds), r.s(caseCLIStart, Seconds)
	const name = "bench-exec"
	if _, err := r.startInstance("--boot", "--boot-hostnet", r.Image, name); err != nil {
		return err
	}
	defer r.app("instance", "stop", "-t", "20", name)
	in, err := r.instance(name)
	if err != nil {
		return err
	}
	pid := strconv.Itoa(in.PID)
	for i := -2; i < c.Execs && ctx.Err() == nil; i++ {
		d, err := r.timedApp("exec", "instance://"+name, "/bin/true")
		if err != nil {
			return err
		}
		t0 := time.Now()
		if out, err := exec.Command("nsenter", "-a", "-t", pid, "/bin/true").CombinedOutput(); err != nil {
			return fmt.Errorf("nsenter -a -t %s: %w: %s", pid, err, out)
		}
		f := time.Since(t0)
		// What any command of the CLI costs before it does anything.
		v, err := r.timedApp("version")
		if err != nil {
			return err
		}
		if i >= 0 { // two warm-up rounds are not counted
			ex.AddDuration(d)
			floor.AddDuration(f)
			cli.AddDuration(v)
		}
	}
	return ctx.Err()
}

// rssGroup boots 32 instances at once (no network, so no CNI state) and
// reads each monitor's resident set size while all of them run.
func (r *runner) rssGroup(ctx context.Context, c config) error {
	rss, pss, anon := r.s(caseRSS, Bytes), r.s(caseRSSPss, Bytes), r.s(caseRSSAnon, Bytes)
	const count = 32
	if err := r.raiseInotify(1024); err != nil {
		return err
	}
	var names []string
	defer func() { r.stopMany(names) }()
	for i := 0; i < count; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name := fmt.Sprintf("bench-rss-%02d", i)
		if _, err := r.startInstance("--boot", "--network", "none", r.Image, name); err != nil {
			return err
		}
		names = append(names, name)
	}
	mons := monitors()
	for _, name := range names {
		pid, ok := mons[name]
		if !ok {
			return fmt.Errorf("no monitor process for %s", name)
		}
		v, err := rssOf(pid)
		if err != nil {
			return err
		}
		rss.Add(v)
		// Pss splits the pages the monitors share (the engine binary)
		// among them: what each instance really costs.
		p, a, err := pssOf(pid)
		if err != nil {
			return err
		}
		pss.Add(p)
		anon.Add(a)
	}
	fmt.Fprintf(os.Stderr, "rss: %d monitors read\n", len(names))
	return nil
}

// listGroup starts 100 plain busybox instances and times listing them.
func (r *runner) listGroup(ctx context.Context, c config) error {
	list := r.s(caseList, Seconds)
	const count = 100
	var names []string
	defer func() { r.stopMany(names) }()
	for i := 0; i < count; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name := fmt.Sprintf("bench-ls-%03d", i)
		if _, err := r.startInstance(r.Busybox, name); err != nil {
			return err
		}
		names = append(names, name)
	}
	for i := -2; i < c.Execs && ctx.Err() == nil; i++ {
		t0 := time.Now()
		out, err := r.app("instance", "list", "--json")
		d := time.Since(t0)
		if err != nil {
			return err
		}
		l, err := parseList(out)
		if err != nil {
			return err
		}
		if len(l) != count {
			return fmt.Errorf("instance list --json shows %d instances, want %d", len(l), count)
		}
		if i >= 0 {
			list.AddDuration(d)
		}
	}
	return ctx.Err()
}

// stopMany stops instances a few at a time: one by one would take
// minutes for a hundred, all at once would swamp two CPUs.
func (r *runner) stopMany(names []string) {
	sem := make(chan struct{}, 4)
	done := make(chan struct{})
	for _, n := range names {
		go func() {
			sem <- struct{}{}
			_, _ = r.app("instance", "stop", "-t", "20", n)
			<-sem
			done <- struct{}{}
		}()
	}
	for range names {
		<-done
	}
}

// makeBusyboxRootfs builds a minimal sandbox from the host's busybox
// (Debian's busybox-static), as the e2e harness does.
func makeBusyboxRootfs(dir string) (string, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox is needed (apt-get install busybox-static): %w", err)
	}
	for _, d := range []string{"bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "var/tmp", "root", "run", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", fmt.Errorf("failed to make %q: %w", d, err)
		}
	}
	if err := copyFile(bb, filepath.Join(dir, "bin", "busybox")); err != nil {
		return "", err
	}
	if err := os.Chmod(filepath.Join(dir, "bin", "busybox"), 0o755); err != nil {
		return "", fmt.Errorf("failed to chmod busybox: %w", err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("failed to list busybox applets: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			_ = os.Symlink("busybox", filepath.Join(dir, "bin", applet))
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":  "root:x:0:\n",
		"etc/hosts":  "127.0.0.1 localhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return "", fmt.Errorf("failed to write %q: %w", name, err)
		}
	}
	return dir, nil
}

// inotifyLimit is a kernel-wide limit (not a network sysctl): every booted
// systemd holds several inotify instances, and the default of 128 per
// user stops the 20th boot with "Too many open files". It is raised for
// the 32-instance case only and the old value is put back at cleanup.
const inotifyLimit = "/proc/sys/fs/inotify/max_user_instances"

func (r *runner) raiseInotify(want int) error {
	b, err := os.ReadFile(inotifyLimit)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", inotifyLimit, err)
	}
	old := strings.TrimSpace(string(b))
	if n, err := strconv.Atoi(old); err == nil && n >= want {
		return nil
	}
	if err := os.WriteFile(inotifyLimit, []byte(strconv.Itoa(want)), 0o644); err != nil {
		return fmt.Errorf("failed to raise %s to %d: %w", inotifyLimit, want, err)
	}
	fmt.Fprintf(os.Stderr, "rss: raised %s from %s to %d for this case\n", inotifyLimit, old, want)
	r.defer_(func() { _ = os.WriteFile(inotifyLimit, []byte(old), 0o644) })
	return nil
}
