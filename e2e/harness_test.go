//go:build e2e

// Package e2e runs the real apptainer binary as root. TestMain moves the
// whole test process into a throwaway network and mount namespace first:
// that namespace plays "the host", so no test ever touches the machine's
// own network, and every mount a test leaks dies with it. Around the tests,
// whichever of them -run selects and in whatever order, TestMain records
// the real machine and checks afterwards that it is unchanged and that
// nothing of ours is left (suite_test.go).
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/devbuild"
)

const innerEnv = "APPTAINER_E2E_INNER"

// env is the test environment shared by every test.
var env struct {
	Bin     string // the apptainer binary under test
	Top     string // scratch directory
	ConfDir string // <sysconfdir>/apptainer of the test build
	Home    string // HOME for the runtime (instance files and logs)
	Busybox string // a tiny rootfs made from busybox-static
}

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e tests must run as root")
		os.Exit(1)
	}
	if os.Getenv(innerEnv) == "" {
		os.Exit(reexecInThrowawayHost())
	}
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	if code == 0 {
		code = runChecked(m)
	}
	os.RemoveAll(env.Top)
	os.Exit(code)
}

// runChecked runs the tests between the suite's before and after checks
// (suite_test.go) and returns the exit code: non-zero when a test failed,
// when the baseline cannot be taken, or when the after check finds a
// leftover or a change of the machine.
func runChecked(m *testing.M) int {
	before, err := takeSuiteBaseline()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot record the machine before the tests:", err)
		return 1
	}
	code := m.Run()
	if problems := checkSuiteAfter(before); len(problems) > 0 {
		fmt.Fprintln(os.Stderr, "\n--- FAIL: the check after all tests (TestMain, suite_test.go):")
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "    "+strings.ReplaceAll(p, "\n", "\n    "))
		}
		fmt.Fprintln(os.Stderr, "FAIL")
		if code == 0 {
			code = 1
		}
	}
	return code
}

// reexecInThrowawayHost runs this test binary again in a new network,
// mount and UTS namespace and returns its exit code.
func reexecInThrowawayHost() int {
	args := append([]string{"--net", "--mount", "--uts", "--propagation", "private", "--", os.Args[0]}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "cannot enter a throwaway namespace:", err)
		return 1
	}
	return 0
}

func setup() (int, error) {
	if err := run("ip", "link", "set", "lo", "up"); err != nil {
		return 1, err
	}
	if err := run("hostname", "e2e-host"); err != nil {
		return 1, err
	}
	top, err := os.MkdirTemp("", "apptainer-e2e-")
	if err != nil {
		return 1, err
	}
	env.Top = top
	// Readable by everyone: the non-root refusal tests run the binary as
	// nobody, and it must reach apptainer.conf to say what it refuses.
	if err := os.Chmod(top, 0o755); err != nil {
		return 1, err
	}
	env.ConfDir = filepath.Join(top, "etc", "apptainer")
	env.Home = filepath.Join(top, "home")
	repo, err := filepath.Abs("..")
	if err != nil {
		return 1, err
	}
	env.Bin = os.Getenv("APPTAINER_E2E_BINARY")
	if env.Bin == "" {
		env.Bin = filepath.Join(top, "apptainer")
		// The helpers sit next to the CLI, as in a build directory.
		paths := devbuild.Paths{SysConfDir: filepath.Join(top, "etc"), LocalStateDir: filepath.Join(top, "var"), LibExecDir: filepath.Join(top, "libexec")}
		if err := devbuild.Build(repo, top, paths); err != nil {
			return 1, err
		}
	}
	for _, d := range []string{filepath.Join(env.ConfDir, "network"), env.Home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 1, err
		}
	}
	if err := copyFile(filepath.Join(repo, "etc", "apptainer.conf"), filepath.Join(env.ConfDir, "apptainer.conf")); err != nil {
		return 1, err
	}
	lists, _ := filepath.Glob(filepath.Join(repo, "etc", "network", "*.conflist"))
	if len(lists) == 0 {
		return 1, fmt.Errorf("no CNI network configuration in %s", filepath.Join(repo, "etc", "network"))
	}
	for _, l := range lists {
		if err := copyFile(l, filepath.Join(env.ConfDir, "network", filepath.Base(l))); err != nil {
			return 1, err
		}
	}
	if env.Busybox, err = makeBusyboxRootfs(filepath.Join(top, "busybox")); err != nil {
		return 1, err
	}
	return 0, nil
}

// makeBusyboxRootfs builds a minimal sandbox image from Debian's
// busybox-static.
func makeBusyboxRootfs(dir string) (string, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox-static is needed (apt-get install busybox-static): %w", err)
	}
	for _, d := range []string{"bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "var/tmp", "root", "run", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	if err := copyFile(bb, filepath.Join(dir, "bin", "busybox")); err != nil {
		return "", err
	}
	if err := os.Chmod(filepath.Join(dir, "bin", "busybox"), 0o755); err != nil {
		return "", err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return "", err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return "", err
		}
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":    "root:x:0:\n",
		"etc/hostname": "busybox\n",
		"etc/hosts":    "127.0.0.1 localhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// result of one apptainer run.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// apptainer runs the binary under test with the test's HOME.
func apptainer(t *testing.T, args ...string) result {
	t.Helper()
	return apptainerEnv(t, nil, args...)
}

func apptainerEnv(t *testing.T, extra []string, args ...string) result {
	t.Helper()
	return apptainerCmd(t, extra, env.Bin, args...)
}

// apptainerCmd runs name (apptainer, or a wrapper of it) with the test's
// environment.
func apptainerCmd(t *testing.T, extra []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"HOME=" + env.Home, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}, extra...)
	return runResult(t, cmd)
}

// runResult runs cmd, whose environment and other descriptors the caller
// set, and returns its output and exit status; a command that cannot run
// at all fails the test.
func runResult(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cannot run apptainer: %v", err)
	}
	return r
}

// mustSucceed fails the test unless r exited 0.
func mustSucceed(t *testing.T, r result, what string) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("%s failed:\n%s", what, r)
	}
}

// mustFail asserts a non-zero exit with msg in stderr.
func mustFail(t *testing.T, r result, msg string) {
	t.Helper()
	if r.Code == 0 {
		t.Fatalf("succeeded, want failure with %q:\n%s", msg, r)
	}
	if !strings.Contains(r.Stderr, msg) {
		t.Fatalf("stderr lacks %q:\n%s", msg, r)
	}
}

// stopOnCleanup makes sure an instance is gone when the test ends, even
// when it fails half-way. The stop's own result does not matter (the test
// may have stopped the instance, or never started it); a monitor still
// there afterwards does.
func stopOnCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		r := apptainerEnv(t, nil, "instance", "stop", "-t", "20", name)
		if !waitGone(name, 30*time.Second) {
			t.Errorf("cleanup: the monitor of %s still runs 30 s after instance stop:\n%s", name, r)
		}
	})
}

// pollInterval is how often the waits of this package look again at the
// condition they wait for.
const pollInterval = 50 * time.Millisecond

// waitFor polls cond until it reports done, and fails the test when d has
// passed first, naming what it waited for and what cond last saw.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (done bool, last string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		done, last := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last seen:\n%s", d, what, last)
		}
		time.Sleep(pollInterval) // poll interval: the condition has no event to wait on
	}
}

// waitGone polls until no monitor process of name runs.
func waitGone(name string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !monitorRunning(name) {
			return true
		}
		time.Sleep(pollInterval) // poll interval: a process's exit has no event we can wait on here
	}
	return false
}

// monitorRunning looks for a monitor of the instance in /proc. When /proc
// cannot be read it says yes: every caller asserts that no monitor runs,
// and cannot know that then.
func monitorRunning(name string) bool {
	pid, err := findMonitor(name)
	return err != nil || pid > 0
}

// findMonitor returns the PID of the monitor of instance name, or 0 when
// none runs.
func findMonitor(name string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	want := "Apptainer instance: root [" + name + "]"
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(b), want) {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				return pid, nil
			}
		}
	}
	return 0, nil
}

// readNS is the namespace a /proc/PID/ns/* link (or a bind mount of one)
// names; a failed read fails the test (two failed reads are not the same
// namespace).
func readNS(t *testing.T, path string) string {
	t.Helper()
	ns, err := os.Readlink(path)
	if err != nil {
		t.Fatalf("cannot read the namespace of %s: %v", path, err)
	}
	return ns
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// withConf appends lines to the test build's apptainer.conf until the test
// ends.
func withConf(t *testing.T, lines ...string) {
	t.Helper()
	conf := filepath.Join(env.ConfDir, "apptainer.conf")
	orig, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(conf, orig, 0o644); err != nil {
			t.Errorf("cannot restore apptainer.conf: %v", err)
		}
	})
	extra := "\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(conf, append(append([]byte{}, orig...), extra...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
