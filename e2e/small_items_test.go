//go:build e2e

package e2e

// The smaller findings of issue 14 (item 7): empty values of the
// --boot-hostnet flags, instance names too long for the paths made from
// them, and joining an instance from another network namespace.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// logFilesOf lists the log files (and guard reports) of instance name in
// the test's instance store.
func logFilesOf(t *testing.T, name string) []string {
	t.Helper()
	var found []string
	root := filepath.Join(env.Home, ".apptainer", "instances", "logs")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), name+".") {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cannot list the instance logs: %v", err)
	}
	return found
}

// assertNothingMade fails unless instance name left nothing at all: no
// traces (reliability_test.go) and no log files.
func assertNothingMade(t *testing.T, h *fakeHost, name string) {
	t.Helper()
	assertNoTraces(t, h, name)
	if logs := logFilesOf(t, name); len(logs) > 0 {
		t.Errorf("%s left log files: %v", name, logs)
	}
}

// TestEmptyHostnetFlagValues: an empty --boot-hostnet-unmask or
// --boot-hostnet-guard (a variable that expanded to nothing) is refused
// with a message that names the flag, before anything is made.
func TestEmptyHostnetFlagValues(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"empty1", nil, []string{"--boot-hostnet-unmask", ""}, "--boot-hostnet-unmask needs a unit name, got an empty one"},
		{"empty2", nil, []string{"--boot-hostnet-unmask", "chrony.service,"}, "--boot-hostnet-unmask needs a unit name, got an empty one"},
		{"empty3", nil, []string{"--boot-hostnet-guard="}, "--boot-hostnet-guard needs a value: off, warn or fail"},
		{"empty4", nil, []string{"--boot-hostnet-guard", ""}, "--boot-hostnet-guard needs a value: off, warn or fail"},
		{"empty5", []string{"APPTAINER_BOOT_HOSTNET_UNMASK=,chrony.service"}, nil, "--boot-hostnet-unmask needs a unit name, got an empty one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.stopOnCleanup(t, tt.name)
			args := append(append([]string{"instance", "start", "--boot", "--boot-hostnet"}, tt.args...), img, tt.name)
			a := h.nsenterArgs(append([]string{env.Bin}, args...)...)
			mustFail(t, apptainerCmd(t, tt.env, a[0], a[1:]...), tt.want)
			assertNothingMade(t, h, tt.name)
		})
	}
	// The positive control, that valid values of both flags boot, is in
	// TestInstanceNameLength.
}

// TestInstanceNameLength: a name too long for the notify socket of a
// booted instance, or for the file names made from it, is refused before
// anything is made, with the limit; a name at the limit works.
func TestInstanceNameLength(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	// 108 bytes of sun_path - NUL - "/run/apptainer/instances/root/" -
	// "/host/notify" = 65 for root.
	const bootMax, fileMax = 65, 231
	tests := []struct {
		name string
		args []string
		want string
	}{
		{strings.Repeat("a", 200), []string{"--boot", "--boot-hostnet", "--hostname", "short", img},
			"instance name too long (200 characters): at most 65 characters for a booted instance (the path of its notify socket, /run/apptainer/instances/root/NAME/host/notify, must fit in a Unix socket address (107 bytes))"},
		{strings.Repeat("b", bootMax+1), []string{"--boot", "--hostname", "short", "--network", "none", img},
			"instance name too long (66 characters): at most 65 characters for a booted instance"},
		{strings.Repeat("c", 300), []string{env.Busybox},
			"instance name too long (300 characters): at most 231 characters for an instance (file names made from it, such as .NAME.json.tmp-XXXXXXXXXXXXX, must fit in 255 bytes)"},
		{strings.Repeat("d", fileMax+1), []string{env.Busybox}, "instance name too long (232 characters): at most 231 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name[:1]+"x"+strconv.Itoa(len(tt.name)), func(t *testing.T) {
			h.stopOnCleanup(t, tt.name)
			start := time.Now()
			r := h.apptainer(t, append([]string{"instance", "start"}, append(tt.args, tt.name)...)...)
			mustFail(t, r, tt.want)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the refusal took %s: it must come before anything starts", d)
			}
			assertNothingMade(t, h, tt.name)
		})
	}
	// Positive controls: at the limits, the instances start, run and
	// stop, with valid values of the flags TestEmptyHostnetFlagValues
	// refuses empty.
	t.Run("booted at the limit", func(t *testing.T) {
		name := strings.Repeat("e", bootMax)
		h.stopOnCleanup(t, name)
		r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", "--hostname", "short",
			"--boot-hostnet-guard", "warn", "--boot-hostnet-unmask", "chrony.service", img, name)
		mustSucceed(t, r, "start with a name at the limit")
		if !strings.Contains(r.Stdout, name+": running") && !strings.Contains(r.Stdout, name+": degraded") {
			t.Errorf("the instance did not report its state:\n%s", r)
		}
		mustSucceed(t, h.apptainer(t, "exec", "instance://"+name, "true"), "exec in it")
		mustSucceed(t, h.apptainer(t, "instance", "stop", name), "stop")
		assertNoTraces(t, h, name)
	})
	t.Run("plain instance at the limit", func(t *testing.T) {
		name := strings.Repeat("f", fileMax)
		h.stopOnCleanup(t, name)
		mustSucceed(t, h.apptainer(t, "instance", "start", env.Busybox, name), "start with a name at the limit")
		mustSucceed(t, h.apptainer(t, "exec", "instance://"+name, "true"), "exec in it")
		mustSucceed(t, h.apptainer(t, "instance", "stop", name), "stop")
		assertNoTraces(t, h, name)
	})
}

// TestExecFromAnotherNetworkNamespace: `exec instance://NAME` works from
// any network namespace, and the command runs in the instance's. A
// user-namespaced --boot-hostnet instance keeps the host's network
// namespace, which its user namespace does not own: the join must enter it
// before the user namespace.
func TestExecFromAnotherNetworkNamespace(t *testing.T) {
	img := bootImage(t)
	h := newFakeHost(t)
	const name = "execnet1"
	h.stopOnCleanup(t, name)
	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", img, name), "start")
	hostNet := readNS(t, h.NetNS)
	if own := readNS(t, "/proc/self/ns/net"); own == hostNet {
		t.Fatalf("the test runs in the fake host's network namespace %s: nothing would be tested", own)
	}
	script := "readlink /proc/self/ns/net; cat /proc/self/uid_map"
	check := func(t *testing.T, r result) {
		t.Helper()
		mustSucceed(t, r, "exec instance://"+name)
		out := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		if len(out) < 2 {
			t.Fatalf("exec printed:\n%s", r)
		}
		if out[0] != hostNet {
			t.Errorf("the command ran in network namespace %s, want the instance's %s", out[0], hostNet)
		}
		if f := strings.Fields(out[1]); len(f) != 3 || f[0] != "0" || f[1] == "0" || f[2] != "65536" {
			t.Errorf("the command did not run in the instance's user namespace: uid_map %q", out[1])
		}
	}
	t.Run("from the instance's network namespace", func(t *testing.T) {
		check(t, h.apptainer(t, "exec", "instance://"+name, "sh", "-c", script))
	})
	t.Run("from the test's network namespace", func(t *testing.T) {
		check(t, apptainer(t, "exec", "instance://"+name, "sh", "-c", script))
	})
	t.Run("from a new network namespace", func(t *testing.T) {
		check(t, apptainerCmd(t, nil, "unshare", "--net", "--", env.Bin, "exec", "instance://"+name, "sh", "-c", script))
	})
	t.Run("shell from a new network namespace", func(t *testing.T) {
		r := apptainerCmd(t, nil, "unshare", "--net", "--", env.Bin, "shell", "instance://"+name, "-c", script)
		check(t, r)
	})
	mustSucceed(t, h.apptainer(t, "instance", "stop", name), "stop")
}
