package capabilities

import (
	"slices"
	"testing"
)

func TestSet(t *testing.T) {
	base := Set{"CAP_SYS_ADMIN", "net_admin", "CAP_CHOWN", "cap_net_admin"}

	if got, want := base.Sorted(), (Set{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"}); !slices.Equal(got, want) {
		t.Errorf("Sorted() = %q, want %q", got, want)
	}
	if got, want := base.Add("net_raw", "CAP_CHOWN", "weird"), (Set{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "weird"}); !slices.Equal(got, want) {
		t.Errorf("Add() = %q, want %q", got, want)
	}
	if got, want := base.Remove("cap_net_admin", "sys_boot"), (Set{"CAP_CHOWN", "CAP_SYS_ADMIN"}); !slices.Equal(got, want) {
		t.Errorf("Remove() = %q, want %q", got, want)
	}
	if got := Set(Known()).Remove(Known()...); len(got) != 0 {
		t.Errorf("removing everything left %q", got)
	}
	if base[1] != "net_admin" || len(base) != 4 {
		t.Errorf("methods modified their receiver: %q", base)
	}

	for _, tt := range []struct {
		name string
		want bool
	}{
		{"CAP_NET_ADMIN", true},
		{"net_admin", true},
		{"chown", true},
		{"CAP_NET_RAW", false},
		{"bogus", false},
	} {
		if got := base.Contains(tt.name); got != tt.want {
			t.Errorf("Contains(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !(Set{"weird"}).Contains("weird") {
		t.Error("an unknown name is not contained in a set holding it")
	}
}

// The --add-caps/--drop-caps arithmetic a caller performs on root's
// default set: add first, then drop, as upstream does.
func TestSetAddThenDrop(t *testing.T) {
	def, err := RootDefault(ModeNo, "")
	if err != nil {
		t.Fatal(err)
	}
	add, _ := ParseList("net_admin,sys_admin")
	drop, _ := ParseList("sys_admin")
	got := Set(def).Add(add...).Remove(drop...)
	if want := (Set{"CAP_NET_ADMIN"}); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
