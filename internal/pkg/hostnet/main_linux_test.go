package hostnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// throwawayEnv is set in the re-executed test binary. Its value is the
// network namespace the parent ran in, which the child must not be in.
const throwawayEnv = "HOSTNET_TEST_PARENT_NETNS"

// throwawayOtherEnv is set with it to the parent's UTS and IPC namespaces,
// "uts:[...] ipc:[...]".
const throwawayOtherEnv = "HOSTNET_TEST_PARENT_NS"

// TestMain re-executes the test binary, when run as root, in a new network,
// mount, UTS and IPC namespace (unshare --net --mount --uts --ipc
// --propagation private). The whole test process then lives in a throwaway
// "host" namespace that the root tests are free to change: the machine's
// real network namespace, hostname and IPC settings are never touched, and
// everything the tests create there disappears with the process even if a
// cleanup is missed. Without root, or where unshare
// cannot create namespaces, the tests run as they are and the root tests
// skip.
func TestMain(m *testing.M) {
	if os.Geteuid() == 0 && os.Getenv(throwawayEnv) == "" {
		if code, err := runInThrowawayNetns(); err == nil {
			os.Exit(code)
		} else {
			fmt.Fprintf(os.Stderr, "hostnet tests: not re-executed in a throwaway network namespace (%v); root tests will skip\n", err)
		}
	}
	os.Exit(m.Run())
}

func runInThrowawayNetns() (int, error) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return 0, err
	}
	nsArgs := []string{"--net", "--mount", "--uts", "--ipc", "--propagation", "private"}
	if out, err := exec.Command(unshare, append(nsArgs, "true")...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("unshare cannot create namespaces here: %w: %s", err, out)
	}
	parentNs, err := os.Readlink(threadNetns)
	if err != nil {
		return 0, err
	}
	var others []string
	for _, ns := range []string{"uts", "ipc"} {
		l, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			return 0, err
		}
		others = append(others, l)
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(unshare, append(append(nsArgs, self), os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), throwawayEnv+"="+parentNs, throwawayOtherEnv+"="+strings.Join(others, " "))
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

// requireThrowawayNetns skips a test that changes network state unless it
// runs as root inside the namespace TestMain made, and fails it if the
// process somehow still is in the namespace it started in.
func requireThrowawayNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	parent := os.Getenv(throwawayEnv)
	if parent == "" {
		t.Skip("not running in a throwaway network namespace (see TestMain)")
	}
	cur, err := os.Readlink(threadNetns)
	if err != nil {
		t.Fatal(err)
	}
	if cur == parent {
		t.Fatalf("refusing to change network state: still in the parent's namespace %s", cur)
	}
	if init, err := os.Readlink("/proc/1/ns/net"); err == nil && init == cur {
		t.Fatalf("refusing to change network state: in PID 1's namespace %s", cur)
	}
}

// requireThrowawayNamespaces is requireThrowawayNetns for a test that
// also changes settings of the UTS or IPC namespace (kernel.hostname,
// kernel.shmmax, fs.mqueue.*): it fails the test if the process still
// shares either with the parent TestMain re-executed from.
func requireThrowawayNamespaces(t *testing.T) {
	t.Helper()
	requireThrowawayNetns(t)
	parent := strings.Fields(os.Getenv(throwawayOtherEnv))
	if len(parent) != 2 {
		t.Fatalf("%s is %q: the parent's UTS and IPC namespaces are unknown", throwawayOtherEnv, os.Getenv(throwawayOtherEnv))
	}
	for _, ns := range []string{"uts", "ipc"} {
		own, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(parent, own) {
			t.Fatalf("refusing to change %s settings: still in the parent's namespace %s", ns, own)
		}
	}
}
