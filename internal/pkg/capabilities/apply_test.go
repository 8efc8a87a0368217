package capabilities

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// applyChildEnv marks a re-executed test binary that must apply the
// capabilities listed in the variable and exec `cat /proc/self/status`.
const applyChildEnv = "APPTAINER_TEST_CAPABILITIES_APPLY"

func TestMain(m *testing.M) {
	if list, ok := os.LookupEnv(applyChildEnv); ok {
		applyChild(list)
	}
	os.Exit(m.Run())
}

// applyChild runs in the re-executed test binary. It never returns.
func applyChild(list string) {
	runtime.LockOSThread()
	var caps []string
	if list != "" {
		caps = strings.Split(list, ",")
	}
	if err := Apply(caps); err != nil {
		fmt.Fprintln(os.Stderr, "Apply:", err)
		os.Exit(2)
	}
	err := unix.Exec("/bin/cat", []string{"cat", "/proc/self/status"}, []string{})
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(3)
}

// runApplyChild applies caps in a fresh process and returns the capability
// sets the exec'ed program ended up with.
func runApplyChild(t *testing.T, caps []string) statusMasks {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), applyChildEnv+"="+strings.Join(caps, ","))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child with %q failed: %v: %s", caps, err, stderr.String())
	}
	masks, err := parseStatus(out)
	if err != nil {
		t.Fatalf("child with %q printed an unusable status: %v\n%s", caps, err, out)
	}
	return masks
}

func TestApply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: shrinking the bounding set requires CAP_SETPCAP")
	}
	held, err := Held()
	if err != nil {
		t.Fatal(err)
	}
	for _, need := range []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SETPCAP"} {
		if !slices.Contains(held, need) {
			t.Skipf("test process does not hold %s", need)
		}
	}

	tests := []struct {
		name string
		caps []string
	}{
		{"none", nil},
		{"one", []string{"CAP_NET_ADMIN"}},
		{"small set in any spelling", []string{"sys_admin", "cap_chown", "CAP_NET_ADMIN"}},
		{"everything held", held},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := ToMask(tt.caps)
			if err != nil {
				t.Fatal(err)
			}
			got := runApplyChild(t, tt.caps)
			for _, set := range []struct {
				name string
				mask uint64
			}{{"CapBnd", got.Bnd}, {"CapEff", got.Eff}, {"CapPrm", got.Prm}, {"CapInh", got.Inh}, {"CapAmb", got.Amb}} {
				if set.mask != want {
					t.Errorf("%s = %q, want %q", set.name, FromMask(set.mask), FromMask(want))
				}
			}
		})
	}
}

// Requests Apply cannot honour fail before the thread is changed; none of
// these reach a syscall that modifies anything, so they run in-process.
func TestApplyRejects(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}

	if err := Apply([]string{"CAP_CHOWN", "CAP_BOGUS"}); err == nil || err.Error() != `failed to apply capabilities: unknown capability "CAP_BOGUS"` {
		t.Errorf("Apply(unknown) error = %v", err)
	}
	held, err := Held()
	if err != nil {
		t.Fatal(err)
	}
	if missing := Set(Known()).Remove(held...); len(missing) > 0 {
		err := Apply(missing[:1])
		want := "failed to apply capabilities: " + missing[0] + " is not in the permitted set of this process"
		if err == nil || err.Error() != want {
			t.Errorf("Apply(%q) error = %v, want %q", missing[:1], err, want)
		}
	}

	after, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := parseStatus(before)
	a, _ := parseStatus(after)
	if a != b {
		t.Errorf("a rejected Apply changed the thread's capabilities from %+v to %+v", b, a)
	}
}
