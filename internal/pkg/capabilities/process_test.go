package capabilities

import (
	"os"
	"slices"
	"strings"
	"testing"
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

// OfProcess on ourselves must agree with what the kernel shows in the
// status file, read independently here.
func TestOfProcessSelf(t *testing.T) {
	bnd, eff, prm, err := OfProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	masks, err := parseStatus(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bnd, FromMask(masks.Bnd)) || !slices.Equal(eff, FromMask(masks.Eff)) || !slices.Equal(prm, FromMask(masks.Prm)) {
		t.Errorf("OfProcess(self) = %q, %q, %q; status says %#x, %#x, %#x", bnd, eff, prm, masks.Bnd, masks.Eff, masks.Prm)
	}
}

func TestOfProcessMissing(t *testing.T) {
	// PIDs are capped at 4194304 (pid_max limit), so this one never exists.
	if _, _, _, err := OfProcess(1 << 23); err == nil || !strings.Contains(err.Error(), "failed to read capabilities of process 8388608") {
		t.Errorf("OfProcess(nonexistent) error = %v", err)
	}
}
