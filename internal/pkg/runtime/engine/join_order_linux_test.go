package engine

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startIn starts `sleep infinity` through the command prefix and returns
// its PID once sleep runs (unshare and nsenter exec it when every namespace
// is in place).
func startIn(t *testing.T, prefix ...string) int {
	t.Helper()
	cmd := exec.Command(prefix[0], append(prefix[1:], "sleep", "infinity")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run %s: %v", prefix[0], err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
		if strings.TrimSpace(string(comm)) == "sleep" {
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not exec sleep", prefix)
		}
		time.Sleep(10 * time.Millisecond) // poll: an exec has no event to wait on here
	}
}

func TestForeignNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: NS_GET_USERNS on another process's namespaces")
	}
	// A network namespace of the initial user namespace (the "host"
	// network of an instance), and in it a process with a user namespace
	// and mount namespace of its own, as a user-namespaced --boot-hostnet
	// instance has.
	hostNet := startIn(t, "unshare", "--net")
	pid := startIn(t, "nsenter", "--net=/proc/"+strconv.Itoa(hostNet)+"/ns/net", "unshare", "--user", "--map-root-user", "--mount")
	if !foreignNamespace(pid, "net") {
		t.Error("the network namespace of the initial user namespace is not foreign to the instance's")
	}
	if foreignNamespace(pid, "mnt") {
		t.Error("the user namespace's own mount namespace is reported foreign")
	}
	// Joined from here, another network namespace: net before user.
	r, err := joinRequest(pid, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(r.Order(), ","), "net,user,mnt"; got != want {
		t.Errorf("join order %s, want %s", got, want)
	}
	// Positive control: a network namespace made in the user namespace is
	// owned by it and comes after it.
	own := startIn(t, "unshare", "--user", "--map-root-user", "--mount", "--net")
	if foreignNamespace(own, "net") {
		t.Error("a network namespace made in the user namespace is reported foreign")
	}
	r, err = joinRequest(own, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(r.Order(), ","), "user,net,mnt"; got != want {
		t.Errorf("join order %s, want %s", got, want)
	}
	// A namespace that cannot be looked at counts as foreign: root joins
	// it before entering any user namespace.
	if !foreignNamespace(1<<30, "net") {
		t.Error("an unknown namespace is not treated as foreign")
	}
}
