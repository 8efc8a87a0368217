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
// these reach a syscall that modifies anything, so they run in-process (on
// a thread of their own, see below).
func TestApplyRejects(t *testing.T) {
	// The thread stays locked to this test's goroutine and is never given
	// back: when the goroutine ends, the runtime ends the thread, with
	// whatever capabilities dropPermitted took from it.
	runtime.LockOSThread()

	held, err := Held()
	if err != nil {
		t.Fatal(err)
	}
	missing := Set(Known()).Remove(held...)
	if len(missing) == 0 {
		// Root (as in CI) holds every capability: take one away from this
		// thread only, so that there is one Apply must refuse.
		dropPermitted(t, unix.CAP_SYS_BOOT)
		if held, err = Held(); err != nil {
			t.Fatal(err)
		}
		missing = Set(Known()).Remove(held...)
		if !slices.Equal(missing, []string{"CAP_SYS_BOOT"}) {
			t.Fatalf("after dropping CAP_SYS_BOOT, Held() lacks %q", missing)
		}
	}
	if len(missing) == 0 {
		t.Fatal("this thread holds every capability; nothing to test the refusal with")
	}

	before := threadStatus(t)
	if err := Apply([]string{"CAP_CHOWN", "CAP_BOGUS"}); err == nil || err.Error() != `failed to apply capabilities: unknown capability "CAP_BOGUS"` {
		t.Errorf("Apply(unknown) error = %v", err)
	}
	err = Apply(missing[:1])
	want := "failed to apply capabilities: " + missing[0] + " is not in the permitted set of this process"
	if err == nil || err.Error() != want {
		t.Errorf("Apply(%q) error = %v, want %q", missing[:1], err, want)
	}
	if after := threadStatus(t); after != before {
		t.Errorf("a rejected Apply changed the thread's capabilities from %+v to %+v", before, after)
	}
}

// threadStatus returns the capability sets of the calling thread.
func threadStatus(t *testing.T) statusMasks {
	t.Helper()
	data, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}
	masks, err := parseStatus(data)
	if err != nil {
		t.Fatalf("/proc/thread-self/status: %v", err)
	}
	return masks
}

// dropPermitted removes capability bit from the permitted, effective and
// inheritable sets of the calling thread (capset(2) acts on the calling
// thread only). The caller must keep the thread locked and never unlock it.
func dropPermitted(t *testing.T, bit int) {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	mask := ^uint32(1 << (bit % 32))
	d := &data[bit/32]
	d.Permitted &= mask
	d.Effective &= mask
	d.Inheritable &= mask
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		t.Fatalf("capset without capability %d: %v", bit, err)
	}
}
