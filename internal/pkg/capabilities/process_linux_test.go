package capabilities

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const sampleStatus = `Name:	cat
Umask:	0022
State:	R (running)
CapInh:	0000000000000000
CapPrm:	0000000000003000
CapEff:	0000000000001000
CapBnd:	000001ffffffffff
CapAmb:	0000000000000001
NoNewPrivs:	0
`

func TestParseStatus(t *testing.T) {
	got, err := parseStatus([]byte(sampleStatus))
	if err != nil {
		t.Fatal(err)
	}
	want := statusMasks{Inh: 0, Prm: 0x3000, Eff: 0x1000, Bnd: 1<<41 - 1, Amb: 1}
	if got != want {
		t.Errorf("parseStatus() = %+v, want %+v", got, want)
	}
}

func TestParseStatusErrors(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{"missing line", strings.Replace(sampleStatus, "CapAmb:\t0000000000000001\n", "", 1), "no CapAmb line"},
		{"empty", "", "no CapInh line"},
		{"not hex", strings.Replace(sampleStatus, "CapEff:\t0000000000001000", "CapEff:\tzz", 1), `bad CapEff value "zz"`},
	}
	for _, tt := range tests {
		_, err := parseStatus([]byte(tt.data))
		if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
			t.Errorf("%s: error = %v, want prefix %q", tt.name, err, tt.wantErr)
		}
	}
}

// OfProcess must agree with what the kernel reports through another door
// than the status file OfProcess parses: capget(2) for the effective and
// permitted sets, prctl(PR_CAPBSET_READ) for the bounding set. It is asked
// about this test's own thread (/proc/<tid>/status), which is first given
// three different sets where it can (as root, where all three are
// otherwise the same), so that a set reported in place of another shows.
func TestOfProcessSelf(t *testing.T) {
	// Never unlocked: the runtime ends the thread with this goroutine, and
	// the changed sets with it.
	runtime.LockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	// Dropping from the effective set needs no privilege.
	data[unix.CAP_SYS_BOOT/32].Effective &^= 1 << (unix.CAP_SYS_BOOT % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		t.Fatalf("capset: %v", err)
	}
	// Shrinking the bounding set needs CAP_SETPCAP, which root has.
	setpcap := data[unix.CAP_SETPCAP/32].Effective&(1<<(unix.CAP_SETPCAP%32)) != 0
	if setpcap {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_TIME, 0, 0, 0); err != nil {
			t.Fatalf("PR_CAPBSET_DROP: %v", err)
		}
	}

	bnd, eff, prm, err := OfProcess(unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	wantEff := uint64(data[1].Effective)<<32 | uint64(data[0].Effective)
	wantPrm := uint64(data[1].Permitted)<<32 | uint64(data[0].Permitted)
	var wantBnd uint64
	for c := range 64 {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			break // EINVAL: past the last capability of this kernel
		}
		if in == 1 {
			wantBnd |= 1 << c
		}
	}
	if wantBnd == 0 {
		t.Fatal("PR_CAPBSET_READ found an empty bounding set")
	}
	if setpcap && (wantBnd == wantEff || wantEff == wantPrm || wantPrm == wantBnd) {
		t.Fatalf("the three sets were not made to differ: bounding %#x, effective %#x, permitted %#x", wantBnd, wantEff, wantPrm)
	}
	for _, set := range []struct {
		name string
		got  []string
		want uint64
	}{{"bounding", bnd, wantBnd}, {"effective", eff, wantEff}, {"permitted", prm, wantPrm}} {
		if !slices.Equal(set.got, FromMask(set.want)) {
			t.Errorf("OfProcess %s = %q; the kernel says %#x (%q)", set.name, set.got, set.want, FromMask(set.want))
		}
	}
}

func TestOfProcessMissing(t *testing.T) {
	// PIDs are capped at 4194304 (pid_max limit), so this one never exists.
	if _, _, _, err := OfProcess(1 << 23); err == nil || !strings.Contains(err.Error(), "failed to read capabilities of process 8388608") {
		t.Errorf("OfProcess(nonexistent) error = %v", err)
	}
}
