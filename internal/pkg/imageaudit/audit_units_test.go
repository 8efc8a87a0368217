package imageaudit

import (
	"strings"
	"testing"
)

// expect is what a scenario requires of one subject: a severity, or ""
// for "no finding at all"; active and why, when set, must appear in the
// finding's Active lines and Why.
type expect struct {
	sev    Severity
	kind   Kind
	active string
	why    string
}

// neutral requires the subject to be listed as neutralized this way.
type neutral struct{ how, path string }

type scenario struct {
	name     string
	tree     tree
	want     map[string]expect
	neutrals map[string]neutral
}

func runScenarios(t *testing.T, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if len(sc.want) == 0 && len(sc.neutrals) == 0 {
				t.Fatal("the scenario expects nothing, so it would pass whatever the audit says")
			}
			rep := mustAudit(t, newImage(t, sc.tree))
			for subject, e := range sc.want {
				f, ok := findingFor(rep, subject)
				if e.sev == "" {
					if ok {
						t.Errorf("unexpected finding for %s: %+v", subject, f)
					}
					continue
				}
				if !ok {
					t.Errorf("no finding for %s; findings: %q", subject, subjects(rep))
					continue
				}
				if f.Severity != e.sev || (e.kind != "" && f.Kind != e.kind) {
					t.Errorf("%s: severity %s kind %s, want %s %s", subject, f.Severity, f.Kind, e.sev, e.kind)
				}
				if e.active != "" && !strings.Contains(strings.Join(f.Active, "\n"), e.active) {
					t.Errorf("%s: active %q lacks %q", subject, f.Active, e.active)
				}
				if e.why != "" && !strings.Contains(f.Why+"\n"+f.Fix, e.why) {
					t.Errorf("%s: why %q / fix %q lack %q", subject, f.Why, f.Fix, e.why)
				}
				if f.Fix == "" {
					t.Errorf("%s: no fix", subject)
				}
			}
			for unit, n := range sc.neutrals {
				found := false
				for _, got := range rep.Neutralized {
					if got.Unit == unit {
						found = true
						if got.How != n.how || got.Path != n.path {
							t.Errorf("%s neutralized as %+v, want %+v", unit, got, n)
						}
					}
				}
				if !found {
					t.Errorf("%s not listed as neutralized: %+v", unit, rep.Neutralized)
				}
				if f, ok := findingFor(rep, unit); ok {
					t.Errorf("neutralized %s still has a finding: %+v", unit, f)
				}
			}
			risky := 0
			for _, f := range rep.Findings {
				if f.Severity == SeverityRisky {
					risky++
				}
			}
			if risky != rep.Risky || rep.Clean() != (risky == 0) {
				t.Errorf("Risky = %d, Clean = %v, but %d risky findings", rep.Risky, rep.Clean(), risky)
			}
		})
	}
}

const (
	sysd    = "lib/systemd/system/"
	etcSysd = "etc/systemd/system/"
	ours    = "[Unit]\nConditionPathExists=!/run/host/hostnet\n"
)

func TestAuditUnitKindsAndEnablement(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name: "service enabled in multi-user.target.wants",
			tree: tree{
				sysd + "systemd-networkd.service":                            svc(""),
				etcSysd + "multi-user.target.wants/systemd-networkd.service": "->/lib/systemd/system/systemd-networkd.service",
			},
			want: map[string]expect{"systemd-networkd.service": {sev: SeverityRisky, kind: KindUnit, active: "enabled in /etc/systemd/system/multi-user.target.wants", why: "addresses, routes"}},
		},
		{
			name: "socket in sockets.target.wants activates its service",
			tree: tree{
				sysd + "systemd-networkd.socket":                           "[Socket]\nListenNetlink=route 1361\n",
				sysd + "systemd-networkd.service":                          svc(""),
				etcSysd + "sockets.target.wants/systemd-networkd.socket":   "->/lib/systemd/system/systemd-networkd.socket",
				sysd + "systemd-udevd-control.socket":                      "[Socket]\nListenSequentialPacket=/run/udev/control\nService=systemd-udevd.service\n",
				sysd + "systemd-udevd.service":                             svc(""),
				sysd + "sockets.target.wants/systemd-udevd-control.socket": "->../systemd-udevd-control.socket",
			},
			want: map[string]expect{
				"systemd-networkd.socket":      {sev: SeverityRisky, active: "sockets.target.wants"},
				"systemd-networkd.service":     {sev: SeverityRisky, active: "activated by systemd-networkd.socket"},
				"systemd-udevd-control.socket": {sev: SeverityRisky, active: "/lib/systemd/system/sockets.target.wants"},
				"systemd-udevd.service":        {sev: SeverityRisky, active: "activated by systemd-udevd-control.socket"},
			},
		},
		{
			name: "network-online.target.wants",
			tree: tree{
				sysd + "systemd-networkd-wait-online.service":                                svc(""),
				etcSysd + "network-online.target.wants/systemd-networkd-wait-online.service": "->/lib/systemd/system/systemd-networkd-wait-online.service",
			},
			want: map[string]expect{"systemd-networkd-wait-online.service": {sev: SeverityRisky, active: "network-online.target.wants"}},
		},
		{
			name: "D-Bus alias",
			tree: tree{
				sysd + "systemd-networkd.service":                       svc(""),
				etcSysd + "dbus-org.freedesktop.network1.service":       "->/lib/systemd/system/systemd-networkd.service",
				sysd + "NetworkManager.service":                         svc(""),
				etcSysd + "dbus-org.freedesktop.NetworkManager.service": "->../../../lib/systemd/system/NetworkManager.service",
			},
			want: map[string]expect{
				"systemd-networkd.service": {sev: SeverityRisky, active: "/etc/systemd/system/dbus-org.freedesktop.network1.service"},
				"NetworkManager.service":   {sev: SeverityRisky, active: "dbus-org.freedesktop.NetworkManager.service"},
			},
		},
		{
			name: "alias enabled in a wants directory counts for the real unit",
			tree: tree{
				sysd + "chrony.service":                            svc(""),
				etcSysd + "chronyd.service":                        "->/lib/systemd/system/chrony.service",
				etcSysd + "multi-user.target.wants/chrony.service": "->/lib/systemd/system/chrony.service",
			},
			want: map[string]expect{
				"chrony.service":  {sev: SeverityRisky},
				"chronyd.service": {sev: SeverityRisky},
			},
		},
		{
			name: "template enabled through an instance",
			tree: tree{
				sysd + "ifup@.service":                                "[Unit]\nDescription=ifup for %I\n[Service]\nExecStart=/sbin/ifup %I\n",
				etcSysd + "multi-user.target.wants/ifup@eth0.service": "->/lib/systemd/system/ifup@.service",
			},
			want: map[string]expect{"ifup@.service": {sev: SeverityRisky, active: "ifup@eth0.service: enabled in /etc/systemd/system/multi-user.target.wants"}},
		},
		{
			name: "installed but not enabled is a notice",
			tree: tree{sysd + "NetworkManager.service": svc("")},
			want: map[string]expect{"NetworkManager.service": {sev: SeverityNotice, active: "installed but not enabled"}},
		},
		{
			name: "units not installed are not reported",
			tree: tree{sysd + "getty@.service": svc("")},
			want: map[string]expect{"systemd-networkd.service": {}, "NetworkManager.service": {}},
		},
		{
			name: "preset enable with an initialized machine-id",
			tree: tree{
				sysd + "systemd-networkd.service":             svc(""),
				"lib/systemd/system-preset/90-systemd.preset": "enable systemd-networkd.service\n",
			},
			want: map[string]expect{"systemd-networkd.service": {sev: SeverityNotice, active: "/lib/systemd/system-preset/90-systemd.preset"}},
		},
		{
			name: "preset enable on first boot",
			tree: tree{
				"etc/machine-id":                                  "uninitialized\n",
				sysd + "systemd-networkd.service":                 svc(""),
				"usr/lib/systemd/system-preset/90-systemd.preset": "enable systemd-networkd.*\n",
			},
			want: map[string]expect{"systemd-networkd.service": {sev: SeverityRisky, active: "first boot"}},
		},
		{
			name: "first matching preset line wins",
			tree: tree{
				"etc/machine-id":                           "uninitialized\n",
				sysd + "systemd-networkd.service":          svc(""),
				"etc/systemd/system-preset/00-site.preset": "disable systemd-networkd.service\n",
				"lib/systemd/system-preset/99-all.preset":  "enable *\n",
			},
			want: map[string]expect{"systemd-networkd.service": {sev: SeverityNotice, active: "installed but not enabled"}},
		},
		{
			name: "pulled in by Wants= of an enabled unit",
			tree: tree{
				sysd + "networking.service":                            svc("Wants=network.target ifupdown-pre.service"),
				sysd + "ifupdown-pre.service":                          svc(""),
				etcSysd + "multi-user.target.wants/networking.service": "->/lib/systemd/system/networking.service",
			},
			want: map[string]expect{
				"networking.service":   {sev: SeverityRisky},
				"ifupdown-pre.service": {sev: SeverityRisky, active: "pulled in by networking.service (Wants=)"},
			},
		},
		{
			name: "SysV script with a start link",
			tree: tree{
				"etc/init.d/networking":   "#!/bin/sh\nifup -a\n",
				"etc/rc2.d/S01networking": "->../init.d/networking",
				"etc/init.d/ntp":          "#!/bin/sh\n",
				"etc/init.d/nftables":     "#!/bin/sh\n",
				"etc/rcS.d/S02nftables":   "->../init.d/nftables",
				sysd + "nftables.service": svc(""),
				"etc/udev":                "a file where a directory is expected\n",
			},
			want: map[string]expect{
				"networking.service": {sev: SeverityRisky, active: "/etc/rc2.d/S01networking", why: "SysV"},
				"ntp.service":        {sev: SeverityNotice},
				// A native unit hides the script and its start links.
				"nftables.service": {sev: SeverityNotice, active: "installed but not enabled"},
			},
		},
		{
			name: "unlisted units that network targets enable, and DHCP clients",
			tree: tree{
				sysd + "wicked.service":                                   svc(""),
				etcSysd + "network-online.target.wants/wicked.service":    "->/lib/systemd/system/wicked.service",
				sysd + "dhclient@.service":                                svc(""),
				etcSysd + "multi-user.target.wants/dhclient@eth0.service": "->/lib/systemd/system/dhclient@.service",
				sysd + "myapp.service":                                    svc(""),
				etcSysd + "multi-user.target.wants/myapp.service":         "->/lib/systemd/system/myapp.service",
			},
			want: map[string]expect{
				"wicked.service":        {sev: SeverityRisky, kind: KindNetworkUnit, why: "network-online.target.wants"},
				"dhclient@eth0.service": {sev: SeverityRisky, kind: KindNetworkUnit, why: "DHCP client"},
				"myapp.service":         {},
			},
		},
		{
			name: "broken enablement link",
			tree: tree{
				etcSysd + "multi-user.target.wants/systemd-networkd.service": "->/lib/systemd/system/systemd-networkd.service",
			},
			want: map[string]expect{
				"/etc/systemd/system/multi-user.target.wants/systemd-networkd.service": {sev: SeverityNotice, kind: KindBrokenLink, why: "/lib/systemd/system/systemd-networkd.service"},
				"systemd-networkd.service": {},
			},
		},
	})
}

func TestAuditMasksAndDropIns(t *testing.T) {
	enabled := func(unit string) tree {
		return tree{
			sysd + unit: svc("ConditionCapability=CAP_NET_ADMIN"),
			etcSysd + "multi-user.target.wants/" + unit: "->/lib/systemd/system/" + unit,
		}
	}
	with := func(base tree, more tree) tree {
		for k, v := range more {
			base[k] = v
		}
		return base
	}
	runScenarios(t, []scenario{
		{
			name:     "masked with a /dev/null link",
			tree:     with(enabled("systemd-resolved.service"), tree{etcSysd + "systemd-resolved.service": "->/dev/null"}),
			neutrals: map[string]neutral{"systemd-resolved.service": {"masked", "/etc/systemd/system/systemd-resolved.service"}},
		},
		{
			name:     "masked with an empty file",
			tree:     with(enabled("systemd-resolved.service"), tree{etcSysd + "systemd-resolved.service": ""}),
			neutrals: map[string]neutral{"systemd-resolved.service": {"masked", "/etc/systemd/system/systemd-resolved.service"}},
		},
		{
			name: "a masked unit pulls nothing in",
			tree: tree{
				etcSysd + "networking.service":                         "->/dev/null",
				sysd + "networking.service":                            svc("Wants=ifupdown-pre.service"),
				sysd + "ifupdown-pre.service":                          svc(""),
				etcSysd + "multi-user.target.wants/networking.service": "->/lib/systemd/system/networking.service",
			},
			want:     map[string]expect{"ifupdown-pre.service": {sev: SeverityNotice}},
			neutrals: map[string]neutral{"networking.service": {"masked", "/etc/systemd/system/networking.service"}},
		},
		{
			name:     "the kit's drop-in",
			tree:     with(enabled("systemd-networkd.service"), tree{etcSysd + "systemd-networkd.service.d/" + DropInName: ours}),
			neutrals: map[string]neutral{"systemd-networkd.service": {"guarded", "/etc/systemd/system/systemd-networkd.service.d/" + DropInName}},
		},
		{
			name:     "the same condition under another name, in the vendor directory",
			tree:     with(enabled("systemd-networkd.service"), tree{sysd + "systemd-networkd.service.d/10-site.conf": ours}),
			neutrals: map[string]neutral{"systemd-networkd.service": {"guarded", "/lib/systemd/system/systemd-networkd.service.d/10-site.conf"}},
		},
		{
			name: "a template drop-in guards its instances",
			tree: tree{
				sysd + "ifup@.service":                                svc(""),
				etcSysd + "multi-user.target.wants/ifup@eth0.service": "->/lib/systemd/system/ifup@.service",
				etcSysd + "ifup@.service.d/" + DropInName:             ours,
			},
			neutrals: map[string]neutral{"ifup@.service": {"guarded", "/etc/systemd/system/ifup@.service.d/" + DropInName}},
		},
		{
			name: "a later drop-in that resets conditions undoes ours",
			tree: with(enabled("systemd-networkd.service"), tree{
				etcSysd + "systemd-networkd.service.d/" + DropInName: ours,
				etcSysd + "systemd-networkd.service.d/90-local.conf": "[Unit]\nConditionPathExists=\n",
			}),
			want: map[string]expect{"systemd-networkd.service": {sev: SeverityRisky, why: "/etc/systemd/system/systemd-networkd.service.d/90-local.conf"}},
		},
		{
			name: "a reset that sorts before ours does not",
			tree: with(enabled("systemd-networkd.service"), tree{
				etcSysd + "systemd-networkd.service.d/" + DropInName: ours,
				etcSysd + "systemd-networkd.service.d/10-local.conf": "[Unit]\nConditionPathExists=\n",
			}),
			neutrals: map[string]neutral{"systemd-networkd.service": {"guarded", "/etc/systemd/system/systemd-networkd.service.d/" + DropInName}},
		},
		{
			name: "our drop-in disabled by a same-name mask in /etc",
			tree: with(enabled("systemd-networkd.service"), tree{
				sysd + "systemd-networkd.service.d/" + DropInName:    ours,
				etcSysd + "systemd-networkd.service.d/" + DropInName: "->/dev/null",
			}),
			want: map[string]expect{"systemd-networkd.service": {sev: SeverityRisky}},
		},
		{
			name: "a drop-in on a SysV script",
			tree: tree{
				"etc/init.d/networking":                        "#!/bin/sh\n",
				"etc/rc2.d/S01networking":                      "->../init.d/networking",
				etcSysd + "networking.service.d/" + DropInName: ours,
			},
			neutrals: map[string]neutral{"networking.service": {"guarded", "/etc/systemd/system/networking.service.d/" + DropInName}},
		},
		{
			name: "a guarded unit does not pull in what it wants",
			tree: tree{
				sysd + "networking.service":                            svc("Wants=ifupdown-pre.service"),
				sysd + "ifupdown-pre.service":                          svc(""),
				etcSysd + "multi-user.target.wants/networking.service": "->/lib/systemd/system/networking.service",
				etcSysd + "networking.service.d/" + DropInName:         ours,
			},
			want: map[string]expect{"ifupdown-pre.service": {sev: SeverityNotice}},
		},
	})
}
