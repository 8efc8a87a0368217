package network

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The integration tests run CNI plugins, which change the network namespace
// they run in (bridges, veths, iptables rules, ip_forward). As root, TestMain
// therefore re-executes the whole test binary in a new network and mount
// namespace (unshare --net --mount --propagation private) that dies with it;
// envThrowaway carries the inode of the namespace it left, so the child can
// prove it is elsewhere before any test touches the network.
const (
	envThrowaway = "APPTAINER_NETWORK_TEST_LEFT_NETNS"
	// envHelper makes the binary act as a container process instead of
	// running tests (see runContainer).
	envHelper = "APPTAINER_NETWORK_TEST_HELPER"
	// helperPort is where the container process listens.
	helperPort = 8080
	// helperGreeting is what it sends to each connection.
	helperGreeting = "hello from the container"
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "container" {
		os.Exit(runContainer())
	}
	if os.Geteuid() == 0 && os.Getenv(envThrowaway) == "" {
		if code, ok := reexecInThrowawayNetns(); ok {
			os.Exit(code)
		}
	}
	if inThrowawayNetns() {
		if err := prepareThrowawayHost(); err != nil {
			fmt.Fprintln(os.Stderr, "cannot prepare the throwaway host namespace:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// reexecInThrowawayNetns runs this test binary again with the same
// arguments in new network and mount namespaces; ok is false when unshare
// is missing, and the integration tests will then skip.
func reexecInThrowawayNetns() (code int, ok bool) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return 0, false
	}
	self, err := os.Executable()
	if err != nil {
		return 0, false
	}
	ino, err := netnsInode("/proc/self/ns/net")
	if err != nil {
		return 0, false
	}
	args := append([]string{"--net", "--mount", "--propagation", "private", "--", self}, os.Args[1:]...)
	cmd := exec.Command(unshare, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envThrowaway+"="+strconv.FormatUint(ino, 10))
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return exitErr.ExitCode(), true
	default:
		fmt.Fprintln(os.Stderr, "re-executing the tests in a throwaway network namespace:", err)
		return 1, true
	}
}

// inThrowawayNetns says whether this process runs in the namespace made by
// reexecInThrowawayNetns, not in the one it was started from.
func inThrowawayNetns() bool {
	left, err := strconv.ParseUint(os.Getenv(envThrowaway), 10, 64)
	if err != nil {
		return false
	}
	here, err := netnsInode("/proc/self/ns/net")
	return err == nil && here != left
}

func netnsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// prepareThrowawayHost brings lo up and mounts a sysfs that shows this
// namespace's links (as `ip netns exec` does), in the private mount
// namespace only.
func prepareThrowawayHost() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return err
	}
	err = unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	if errors.Is(err, unix.EBUSY) {
		// Already mounted by the process that started this one (fuzz
		// workers are re-executions of the test binary).
		return nil
	}
	return err
}

// runContainer is the "container" of the integration tests, started under
// `unshare --net`: it listens on helperPort in its own network namespace,
// says "ready" on stdout, and greets every connection until it is killed.
func runContainer() int {
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", helperPort))
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	w := bufio.NewWriter(os.Stdout)
	_, _ = w.WriteString("ready\n")
	_ = w.Flush()
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		_, _ = c.Write([]byte(helperGreeting + "\n"))
		_ = c.Close()
	}
}
