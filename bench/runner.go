package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/devbuild"
)

// runner holds one bench run's scratch tree and what must be undone.
type runner struct {
	Bin string // apptainer under test
	// CompareBin is apptainer built from config.Compare ("" without).
	CompareBin string
	Top        string // scratch directory, removed at the end
	Home       string // HOME of every apptainer call
	Image      string // systemd rootfs
	Busybox    string // tiny rootfs for the 100-instance list case
	Repo       string

	cleanups []func()
	series   map[string]*Series
}

func newRunner(c config) (*runner, error) {
	r := &runner{series: map[string]*Series{}}
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		return nil, fmt.Errorf("failed to bring up lo in the throwaway host: %w", err)
	}
	if err := exec.Command("hostname", "bench-host").Run(); err != nil {
		return nil, fmt.Errorf("failed to set the throwaway hostname: %w", err)
	}
	repo, err := filepath.Abs(c.Repo)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve %q: %w", c.Repo, err)
	}
	r.Repo = repo
	if r.Top, err = os.MkdirTemp("", "apptainer-bench-"); err != nil {
		return nil, fmt.Errorf("failed to make a scratch directory: %w", err)
	}
	r.defer_(func() { os.RemoveAll(r.Top) })
	// The root of a user namespace is no host root: it must be able to
	// reach the session directory under the scratch state directory.
	if err := os.Chmod(r.Top, 0o755); err != nil {
		return r, err
	}
	r.Home = filepath.Join(r.Top, "home")
	confDir := filepath.Join(r.Top, "etc", "apptainer")
	for _, d := range []string{r.Home, filepath.Join(confDir, "network")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return r, fmt.Errorf("failed to make %q: %w", d, err)
		}
	}
	if err := copyFile(filepath.Join(repo, "etc", "apptainer.conf"), filepath.Join(confDir, "apptainer.conf")); err != nil {
		return r, err
	}
	// The user namespace stays the default; "optional" lets the bench boot
	// without one too, to measure what it costs.
	if err := replaceInFile(filepath.Join(confDir, "apptainer.conf"), "boot hostnet userns = yes", "boot hostnet userns = optional"); err != nil {
		return r, err
	}
	lists, _ := filepath.Glob(filepath.Join(repo, "etc", "network", "*.conflist"))
	for _, l := range lists {
		if err := copyFile(l, filepath.Join(confDir, "network", filepath.Base(l))); err != nil {
			return r, err
		}
	}
	r.Bin = c.Binary
	if r.Bin == "" {
		r.Bin = filepath.Join(r.Top, "apptainer")
		// The CLI and, next to it, its helpers, as `make` builds them.
		if err := devbuild.Build(repo, r.Top, devbuild.Paths{SysConfDir: filepath.Join(r.Top, "etc"), LocalStateDir: filepath.Join(r.Top, "var")}); err != nil {
			return r, fmt.Errorf("failed to build apptainer: %w", err)
		}
	}
	if c.Compare != "" {
		// Same configuration and state directories: only the code differs.
		dir := filepath.Join(r.Top, "compare")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return r, err
		}
		cmp, err := filepath.Abs(c.Compare)
		if err != nil {
			return r, err
		}
		if err := devbuild.Build(cmp, dir, devbuild.Paths{SysConfDir: filepath.Join(r.Top, "etc"), LocalStateDir: filepath.Join(r.Top, "var")}); err != nil {
			return r, fmt.Errorf("failed to build apptainer from %s: %w", c.Compare, err)
		}
		r.CompareBin = filepath.Join(dir, "apptainer")
	}
	r.Image = c.Image
	if r.Image == "" {
		out, err := exec.Command(filepath.Join(repo, "scripts", "e2e-image.sh")).Output()
		if err != nil {
			return r, fmt.Errorf("failed to get the boot image from scripts/e2e-image.sh: %w", err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		r.Image = lines[len(lines)-1]
	}
	if _, err := os.Stat(filepath.Join(r.Image, "sbin", "init")); err != nil {
		return r, fmt.Errorf("boot image %q has no /sbin/init: %w", r.Image, err)
	}
	if r.Busybox, err = makeBusyboxRootfs(filepath.Join(r.Top, "busybox")); err != nil {
		return r, err
	}
	// Last line of defence: whatever a case left running is stopped.
	r.defer_(r.stopAll)
	return r, nil
}

// defer_ registers an undo step; cleanup runs them last-in first-out.
func (r *runner) defer_(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *runner) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// stopAll stops every instance of this run's HOME, then kills monitors
// that outlived the stop timeout. They are ours: the names all carry the
// bench- prefix and live in this run's throwaway namespace.
func (r *runner) stopAll() {
	if len(r.instanceNames()) > 0 {
		_, _ = r.app("instance", "stop", "--all", "-t", "20")
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		left := 0
		for name, pid := range monitors() {
			if strings.HasPrefix(name, "bench-") {
				left++
				if time.Now().Add(5 * time.Second).After(deadline) {
					_ = syscallKill(pid)
				}
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// series returns the named series, creating it on first use.
func (r *runner) s(name string, u Unit) *Series {
	if s, ok := r.series[name]; ok {
		return s
	}
	s := &Series{Name: name, Unit: u}
	r.series[name] = s
	return s
}

// app runs apptainer with the run's HOME and returns stdout; the error
// carries stderr, which says why.
func (r *runner) app(args ...string) (string, error) {
	cmd := r.appCmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("apptainer %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (r *runner) appCmd(args ...string) *exec.Cmd {
	return r.appCmdOf(r.Bin, args...)
}

// appCmdOf is appCmd for another apptainer binary (CompareBin).
func (r *runner) appCmdOf(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"HOME=" + r.Home, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	return cmd
}

// timedApp is app with the wall time of the whole CLI call.
func (r *runner) timedApp(args ...string) (time.Duration, error) {
	t0 := time.Now()
	_, err := r.app(args...)
	return time.Since(t0), err
}

// listEntry is the part of `instance list --json` the bench reads.
type listEntry struct {
	Instance string `json:"instance"`
	PID      int    `json:"pid"`
	IP       string `json:"ip"`
}

func parseList(out string) ([]listEntry, error) {
	var l struct {
		Instances []listEntry `json:"instances"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return nil, fmt.Errorf("failed to parse instance list --json: %w", err)
	}
	return l.Instances, nil
}

// instance returns the list entry of name: PID is init's host PID.
func (r *runner) instance(name string) (listEntry, error) {
	out, err := r.app("instance", "list", "--json", name)
	if err != nil {
		return listEntry{}, err
	}
	l, err := parseList(out)
	if err != nil {
		return listEntry{}, err
	}
	for _, e := range l {
		if e.Instance == name {
			return e, nil
		}
	}
	return listEntry{}, fmt.Errorf("instance %q is not listed", name)
}

func (r *runner) instanceNames() []string {
	out, err := r.app("instance", "list", "--json")
	if err != nil {
		return nil
	}
	l, _ := parseList(out)
	var names []string
	for _, e := range l {
		names = append(names, e.Instance)
	}
	return names
}

// startInstance starts an instance and makes sure it is stopped at the end
// of the run even when a later step fails.
func (r *runner) startInstance(args ...string) (time.Duration, error) {
	name := args[len(args)-1]
	r.defer_(func() {
		if _, ok := monitors()[name]; ok {
			_, _ = r.app("instance", "stop", "-t", "20", name)
		}
	})
	return r.timedApp(append([]string{"instance", "start"}, args...)...)
}

// measure runs the chosen groups. A group that fails is reported and the
// others still run: one broken peer must not hide every other number.
func (r *runner) measure(ctx context.Context, c config) ([]Row, bool) {
	groups := []struct {
		name string
		f    func(context.Context, config) error
	}{
		{"boot", r.bootGroup},
		{"trace", r.traceGroup},
		{"exec", r.execGroup},
		{"rss", r.rssGroup},
		{"list", r.listGroup},
		{"iperf", r.iperfGroup},
		{"guard", r.guardGroup},
		{"env", r.envGroup},
		{"rootless", r.rootlessGroup},
	}
	failed := false
	for _, g := range groups {
		if c.Only != "" && !contains(strings.Split(c.Only, ","), g.name) {
			continue
		}
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted")
			return r.rows(), true
		}
		fmt.Fprintf(os.Stderr, "== %s\n", g.name)
		if err := g.f(ctx, c); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", g.name, err)
			failed = true
		}
	}
	return r.rows(), failed
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("failed to read %q: %w", src, err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("failed to write %q: %w", dst, err)
	}
	return nil
}

// replaceInFile replaces the one line old of a file with new.
func replaceInFile(path, old, new string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if strings.Count(string(b), old+"\n") != 1 {
		return fmt.Errorf("%s: expected one line %q", path, old)
	}
	return os.WriteFile(path, []byte(strings.Replace(string(b), old+"\n", new+"\n", 1)), 0o644)
}
