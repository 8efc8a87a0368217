package capabilities

import (
	"slices"
	"testing"
)

func TestKnown(t *testing.T) {
	k := Known()
	if len(k) < 41 {
		t.Fatalf("Known() has %d names, want at least 41 (up to CAP_CHECKPOINT_RESTORE)", len(k))
	}
	checks := map[int]string{0: "CAP_CHOWN", 12: "CAP_NET_ADMIN", 13: "CAP_NET_RAW", 21: "CAP_SYS_ADMIN", 22: "CAP_SYS_BOOT", 40: "CAP_CHECKPOINT_RESTORE"}
	for n, want := range checks {
		if k[n] != want {
			t.Errorf("Known()[%d] = %q, want %q", n, k[n], want)
		}
	}
	k[0] = "changed"
	if Known()[0] != "CAP_CHOWN" {
		t.Error("Known() returned its internal slice; callers could modify it")
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"CAP_NET_ADMIN", "CAP_NET_ADMIN", true},
		{"cap_net_admin", "CAP_NET_ADMIN", true},
		{"net_admin", "CAP_NET_ADMIN", true},
		{"Net_Admin", "CAP_NET_ADMIN", true},
		{" sys_boot ", "CAP_SYS_BOOT", true},
		{"checkpoint_restore", "CAP_CHECKPOINT_RESTORE", true},
		{"CAP_CAP_NET_ADMIN", "", false},
		{"net-admin", "", false},
		{"CAP_", "", false},
		{"", "", false},
		{"all", "", false},
		{"CAP_41", "", false},
	}
	for _, tt := range tests {
		got, ok := Normalize(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		in          string
		wantCaps    []string
		wantUnknown []string
	}{
		{"", []string{}, nil},
		{" , ,", []string{}, nil},
		{"CAP_NET_ADMIN", []string{"CAP_NET_ADMIN"}, nil},
		{"net_raw,cap_net_admin", []string{"CAP_NET_ADMIN", "CAP_NET_RAW"}, nil},
		{"sys_admin, NET_ADMIN ,net_admin,", []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}, nil},
		{"chown,bogus,cap_foo", []string{"CAP_CHOWN"}, []string{"bogus", "cap_foo"}},
		{"ALL", Known(), nil},
		{"all,net_admin,nope", Known(), []string{"nope"}},
	}
	for _, tt := range tests {
		caps, unknown := ParseList(tt.in)
		if !slices.Equal(caps, tt.wantCaps) || !slices.Equal(unknown, tt.wantUnknown) {
			t.Errorf("ParseList(%q) = %q, %q; want %q, %q", tt.in, caps, unknown, tt.wantCaps, tt.wantUnknown)
		}
	}
}

func TestFromMask(t *testing.T) {
	tests := []struct {
		mask uint64
		want []string
	}{
		{0, nil},
		{1, []string{"CAP_CHOWN"}},
		{1<<12 | 1<<13, []string{"CAP_NET_ADMIN", "CAP_NET_RAW"}},
		{1 << 40, []string{"CAP_CHECKPOINT_RESTORE"}},
		{1<<40 | 1<<41 | 1<<63, []string{"CAP_CHECKPOINT_RESTORE", "CAP_41", "CAP_63"}},
	}
	for _, tt := range tests {
		if got := FromMask(tt.mask); !slices.Equal(got, tt.want) {
			t.Errorf("FromMask(%#x) = %q, want %q", tt.mask, got, tt.want)
		}
	}
}

func TestMaskRoundTrip(t *testing.T) {
	for _, caps := range [][]string{nil, {"CAP_SYS_ADMIN"}, {"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_CHECKPOINT_RESTORE"}, Known()} {
		mask, err := ToMask(caps)
		if err != nil {
			t.Fatalf("ToMask(%q) failed: %v", caps, err)
		}
		if got := FromMask(mask); !slices.Equal(got, caps) {
			t.Errorf("FromMask(ToMask(%q)) = %q", caps, got)
		}
	}
	// The full set of this build is the 41 low bits of /proc's CapBnd on
	// kernels since 5.9.
	if mask, _ := ToMask(Known()); mask != 1<<41-1 {
		t.Errorf("ToMask(Known()) = %#x, want %#x", mask, uint64(1<<41-1))
	}
	if _, err := ToMask([]string{"net_admin", "bogus"}); err == nil || err.Error() != `unknown capability "bogus"` {
		t.Errorf("ToMask with an unknown name: error = %v, want unknown capability \"bogus\"", err)
	}
}
