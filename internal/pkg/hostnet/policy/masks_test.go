package policy

import (
	"slices"
	"strings"
	"testing"
)

func TestEffectiveMasks(t *testing.T) {
	builtin := DefaultMaskedUnits()
	without := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(builtin), func(u string) bool { return slices.Contains(drop, u) })
	}
	tests := []struct {
		name      string
		confExtra []string
		unmask    []string
		want      []string
		wantErr   []string // substrings of the error
	}{
		{name: "built-in only", want: builtin},
		{
			name:      "conf extras are appended in order",
			confExtra: []string{"my-vpn.service", "site-net@.service"},
			want:      append(slices.Clone(builtin), "my-vpn.service", "site-net@.service"),
		},
		{
			name:      "duplicates are dropped",
			confExtra: []string{"my-vpn.service", "systemd-networkd.service", "my-vpn.service"},
			want:      append(slices.Clone(builtin), "my-vpn.service"),
		},
		{
			name:   "unmask a built-in unit",
			unmask: []string{"systemd-timesyncd.service", "avahi-daemon.socket"},
			want:   without("systemd-timesyncd.service", "avahi-daemon.socket"),
		},
		{
			name:      "unmask a conf extra",
			confExtra: []string{"my-vpn.service"},
			unmask:    []string{"my-vpn.service"},
			want:      builtin,
		},
		{
			name:   "unmask twice",
			unmask: []string{"chrony.service", "chrony.service"},
			want:   without("chrony.service"),
		},
		{
			name:    "unmask a unit that is not masked",
			unmask:  []string{"sshd.service"},
			wantErr: []string{"--boot-hostnet-unmask sshd.service", "unit is not masked"},
		},
		{
			name:    "unmask with a bad name",
			unmask:  []string{"sshd"},
			wantErr: []string{"--boot-hostnet-unmask", `"sshd"`, "unit type"},
		},
		{
			name:      "conf extra with a space",
			confExtra: []string{"my vpn.service"},
			wantErr:   []string{"boot hostnet mask units", `"my vpn.service"`, "not allowed"},
		},
		{
			name:      "conf extra with a slash",
			confExtra: []string{"/etc/systemd/system/x.service"},
			wantErr:   []string{`"/etc/systemd/system/x.service"`, "not allowed"},
		},
		{
			name:      "conf extra with an unknown suffix",
			confExtra: []string{"foo.conf"},
			wantErr:   []string{`"foo.conf"`, "unit type"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EffectiveMasks(tt.confExtra, tt.unmask)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("EffectiveMasks() = %v, want an error", got)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("EffectiveMasks() error: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("EffectiveMasks() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestCheckUnitName(t *testing.T) {
	tests := []struct {
		unit string
		ok   bool
	}{
		{"foo.service", true},
		{"ifup@.service", true},
		{"ifup@eth0.service", true},
		{"dev-sda.device", true},
		{"a:b_c-d\\x2d.socket", true},
		{"x.timer", true},
		{"", false},
		{".service", false},
		{"@.service", false},
		{"foo", false},
		{"foo.", false},
		{"foo.conf", false},
		{"a@b@c.service", false},
		{"foo bar.service", false},
		{"foo/bar.service", false},
		{"foo=bar.service", false},
		{"fö.service", false},
		{strings.Repeat("a", 248) + ".service", false},
		{strings.Repeat("a", 247) + ".service", true},
	}
	for _, tt := range tests {
		err := checkUnitName(tt.unit)
		if (err == nil) != tt.ok {
			t.Errorf("checkUnitName(%q) = %v, want ok=%v", tt.unit, err, tt.ok)
		}
	}
}

func TestInitArgs(t *testing.T) {
	tests := []struct {
		units []string
		want  []string
	}{
		{nil, []string{}},
		{[]string{"a.service"}, []string{"systemd.mask=a.service"}},
		{[]string{"a.service", "ifup@.service"}, []string{"systemd.mask=a.service", "systemd.mask=ifup@.service"}},
	}
	for _, tt := range tests {
		if got := InitArgs(tt.units); !slices.Equal(got, tt.want) {
			t.Errorf("InitArgs(%q) = %q, want %q", tt.units, got, tt.want)
		}
	}
}

// Every built-in unit must pass the same check the administrator's extras
// do, or EffectiveMasks would reject its own list one day.
func TestDefaultMaskedUnitsAreValid(t *testing.T) {
	for _, u := range DefaultMaskedUnits() {
		if err := checkUnitName(u); err != nil {
			t.Errorf("built-in unit: %v", err)
		}
		if MaskReason(u) == "" {
			t.Errorf("built-in unit %q has no reason", u)
		}
	}
}

// TestDefaultMaskedUnitsPinned writes the built-in list out by hand. The
// other tests here, the kit and the audit derive their expectations from
// DefaultMaskedUnits(), so without this a unit dropped from the list (or
// the whole list emptied) would pass them all. A change to the list must
// change this test too.
func TestDefaultMaskedUnitsPinned(t *testing.T) {
	want := []string{
		"systemd-networkd.service",
		"systemd-networkd.socket",
		"systemd-networkd-wait-online.service",
		"systemd-resolved.service",
		"NetworkManager.service",
		"NetworkManager-wait-online.service",
		"NetworkManager-dispatcher.service",
		"networking.service",
		"ifup@.service",
		"ifupdown-pre.service",
		"ifupdown-wait-online.service",
		"dhcpcd.service",
		"wpa_supplicant.service",
		"ModemManager.service",
		"systemd-udevd.service",
		"systemd-udevd-control.socket",
		"systemd-udevd-kernel.socket",
		"systemd-udev-trigger.service",
		"systemd-udev-settle.service",
		"systemd-sysctl.service",
		"firewalld.service",
		"nftables.service",
		"iptables.service",
		"ip6tables.service",
		"ebtables.service",
		"ipset.service",
		"netfilter-persistent.service",
		"ufw.service",
		"systemd-timesyncd.service",
		"chronyd.service",
		"chrony.service",
		"ntpd.service",
		"ntp.service",
		"ntpsec.service",
		"rdma-ndd.service",
		"rdma-load-modules@.service",
		"rdma.service",
		"opensm.service",
		"ibacm.service",
		"srp_daemon.service",
		"iwpmd.service",
		"openibd.service",
		"avahi-daemon.service",
		"avahi-daemon.socket",
	}
	if got := DefaultMaskedUnits(); !slices.Equal(got, want) {
		t.Errorf("DefaultMaskedUnits() =\n%q\nwant\n%q", got, want)
	}
	if got, err := EffectiveMasks(nil, nil); err != nil || !slices.Equal(got, want) {
		t.Errorf("EffectiveMasks(nil, nil) =\n%q, %v\nwant\n%q", got, err, want)
	}
}
