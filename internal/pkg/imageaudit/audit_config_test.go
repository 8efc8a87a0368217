package imageaudit

import (
	"encoding/json"
	"errors"
	"github.com/apptainer/apptainer/internal/pkg/image"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// enable returns the tree that installs and enables unit.
func enable(unit string) tree {
	return tree{
		sysd + unit: svc(""),
		etcSysd + "multi-user.target.wants/" + unit: "->/lib/systemd/system/" + unit,
	}
}

// merge joins trees; later ones win.
func merge(trees ...tree) tree {
	out := tree{}
	for _, tr := range trees {
		for k, v := range tr {
			out[k] = v
		}
	}
	return out
}

func TestAuditConfigFiles(t *testing.T) {
	networkd := tree{
		"etc/systemd/network/10-ib0.network":     "[Match]\nName=ib0\n[Link]\nMTUBytes=4092\n[Network]\nAddress=10.201.0.77/24\n",
		"etc/systemd/network/br0.netdev":         "[NetDev]\nName=br0\nKind=bridge\n",
		"usr/lib/systemd/network/99-all.network": "[Network]\nDHCP=yes\n",
		"etc/systemd/network/README":             "not a network file\n",
	}
	udev := tree{
		sysd + "systemd-udevd.service":                      svc(""),
		sysd + "sysinit.target.wants/systemd-udevd.service": "->../systemd-udevd.service",
		"etc/udev/rules.d/70-persistent-net.rules":          `SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:00:00:01", NAME="lan0"` + "\n",
		"lib/udev/rules.d/80-net-setup-link.rules":          "SUBSYSTEM!=\"net\", GOTO=\"end\"\nIMPORT{builtin}=\"net_setup_link\"\nLABEL=\"end\"\n",
		"lib/udev/rules.d/60-block.rules":                   `SUBSYSTEM=="block", RUN+="/bin/true"` + "\n",
		"usr/lib/systemd/network/99-default.link":           "[Match]\nOriginalName=*\n[Link]\nNamePolicy=keep kernel database onboard slot path\n",
	}
	runScenarios(t, []scenario{
		{
			name: "networkd files count while networkd would start",
			tree: merge(enable("systemd-networkd.service"), networkd),
			want: map[string]expect{
				"/etc/systemd/network/10-ib0.network":     {sev: SeverityRisky, kind: KindNetworkd, why: "Name=ib0", active: "systemd-networkd.service"},
				"/etc/systemd/network/br0.netdev":         {sev: SeverityRisky, kind: KindNetworkd, why: `"br0"`},
				"/usr/lib/systemd/network/99-all.network": {sev: SeverityRisky, why: "every link"},
				"/etc/systemd/network/README":             {},
			},
		},
		{
			name: "networkd files are inert while networkd is disabled",
			tree: merge(tree{sysd + "systemd-networkd.service": svc("")}, networkd),
			want: map[string]expect{"/etc/systemd/network/10-ib0.network": {}, "systemd-networkd.service": {sev: SeverityNotice}},
		},
		{
			name: "networkd files are inert while networkd is guarded",
			tree: merge(enable("systemd-networkd.service"), networkd, tree{etcSysd + "systemd-networkd.service.d/" + DropInName: ours}),
			want: map[string]expect{"/etc/systemd/network/10-ib0.network": {}, "/etc/systemd/network/br0.netdev": {}},
		},
		{
			name: "a same-name file in /etc masks the vendor file",
			tree: merge(enable("systemd-networkd.service"), networkd, tree{"etc/systemd/network/99-all.network": "->/dev/null"}),
			want: map[string]expect{"/usr/lib/systemd/network/99-all.network": {}, "/etc/systemd/network/99-all.network": {}},
		},
		{
			name: "udev rules and link files while udevd would start",
			tree: udev,
			want: map[string]expect{
				"/etc/udev/rules.d/70-persistent-net.rules": {sev: SeverityRisky, kind: KindUdev, why: `NAME="lan0"`},
				"/lib/udev/rules.d/80-net-setup-link.rules": {sev: SeverityRisky, kind: KindUdev, why: ".link files"},
				"/lib/udev/rules.d/60-block.rules":          {},
				"/usr/lib/systemd/network/99-default.link":  {sev: SeverityRisky, kind: KindNetworkd, why: "renaming"},
			},
		},
		{
			name: "the kit's rule-less override hides the vendor link rules",
			tree: merge(udev, tree{"etc/udev/rules.d/80-net-setup-link.rules": string(udevOverrideContent())}),
			want: map[string]expect{
				"/lib/udev/rules.d/80-net-setup-link.rules": {},
				"/etc/udev/rules.d/80-net-setup-link.rules": {},
				"/etc/udev/rules.d/70-persistent-net.rules": {sev: SeverityRisky},
			},
		},
		{
			name: "ifupdown stanzas",
			tree: merge(enable("networking.service"), tree{
				"etc/network/interfaces":         "source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n",
				"etc/network/interfaces.d/eth0":  "auto eth0\niface eth0 inet dhcp\n",
				"etc/network/interfaces.d/ib0":   "allow-hotplug ib0\niface ib0 inet static\n",
				"etc/network/interfaces.d/stale": "->/etc/network/gone",
			}),
			want: map[string]expect{
				"/etc/network/interfaces":         {},
				"/etc/network/interfaces.d/eth0":  {sev: SeverityRisky, kind: KindIfupdown, why: "eth0 (inet dhcp)"},
				"/etc/network/interfaces.d/ib0":   {sev: SeverityRisky, kind: KindIfupdown, why: "ib0 (inet static)"},
				"/etc/network/interfaces.d/stale": {sev: SeverityNotice, kind: KindBrokenLink},
			},
		},
		{
			name: "NetworkManager profiles",
			tree: merge(enable("NetworkManager.service"), tree{
				"etc/NetworkManager/system-connections/ib0.nmconnection":  "[connection]\nid=ib0\ntype=infiniband\ninterface-name=ib0\n",
				"etc/NetworkManager/system-connections/off.nmconnection":  "[connection]\nid=off\ntype=ethernet\nautoconnect=false\n",
				"etc/NetworkManager/system-connections/ib0.nmconnection~": "[connection]\nid=backup\n",
				"etc/sysconfig/network-scripts/ifcfg-eth0":                "DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n",
				"etc/sysconfig/network-scripts/ifcfg-lo":                  "DEVICE=lo\n",
			}),
			want: map[string]expect{
				"/etc/NetworkManager/system-connections/ib0.nmconnection":  {sev: SeverityRisky, kind: KindNetworkManager, why: "ib0"},
				"/etc/NetworkManager/system-connections/off.nmconnection":  {},
				"/etc/NetworkManager/system-connections/ib0.nmconnection~": {},
				"/etc/sysconfig/network-scripts/ifcfg-eth0":                {sev: SeverityRisky, why: "BOOTPROTO=dhcp"},
				"/etc/sysconfig/network-scripts/ifcfg-lo":                  {},
			},
		},
		{
			name: "sysctl files",
			tree: merge(tree{
				sysd + "systemd-sysctl.service":                      svc(""),
				sysd + "sysinit.target.wants/systemd-sysctl.service": "->../systemd-sysctl.service",
				"etc/sysctl.d/60-net.conf":                           "net.ipv4.ip_forward=1\n",
				"etc/sysctl.d/10-kernel.conf":                        "kernel.pid_max = 4194304\n",
				"usr/lib/sysctl.d/50-default.conf":                   "net.ipv4.conf.default.rp_filter = 2\n",
				"etc/sysctl.d/50-default.conf":                       "->/dev/null",
				"etc/sysctl.conf":                                    "net.core.somaxconn=1024\n",
			}),
			want: map[string]expect{
				"/etc/sysctl.d/60-net.conf":         {sev: SeverityRisky, kind: KindSysctl, why: "net.ipv4.ip_forward"},
				"/etc/sysctl.d/10-kernel.conf":      {},
				"/usr/lib/sysctl.d/50-default.conf": {},
				"/etc/sysctl.d/50-default.conf":     {},
				"/etc/sysctl.conf":                  {sev: SeverityRisky, why: "net.core.somaxconn"},
			},
		},
		{
			name: "sysctl.conf linked in as 99-sysctl.conf is reported once",
			tree: tree{
				sysd + "systemd-sysctl.service":                      svc(""),
				sysd + "sysinit.target.wants/systemd-sysctl.service": "->../systemd-sysctl.service",
				"etc/sysctl.conf":                                    "net.core.somaxconn=1024\n",
				"etc/sysctl.d/99-sysctl.conf":                        "->../sysctl.conf",
			},
			want: map[string]expect{"/etc/sysctl.d/99-sysctl.conf": {sev: SeverityRisky}, "/etc/sysctl.conf": {}},
		},
	})
}

func TestAuditNeverLeavesTheImage(t *testing.T) {
	outside := t.TempDir()
	hostFile := filepath.Join(outside, "evil.network")
	writeTree(t, outside, tree{"evil.network": "[Match]\nName=hostonly0\n[Network]\nDHCP=yes\n"})
	root := newImage(t, merge(enable("systemd-networkd.service"), tree{
		"etc/systemd/network/10-host.network":  "->" + hostFile,
		"etc/systemd/network/20-climb.network": "->../../../../../../../../opt/img.network",
		"opt/img.network":                      "[Match]\nName=imageonly0\n",
		"etc/systemd/network/30-dir.network":   "->/etc",
	}))
	rep := mustAudit(t, root)
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err) // an empty data would pass the check below
	}
	if strings.Contains(string(data), "hostonly0") {
		t.Fatalf("the audit read a file outside the image: %s", data)
	}
	if f, ok := findingFor(rep, "/etc/systemd/network/10-host.network"); !ok || f.Kind != KindBrokenLink || !strings.Contains(f.Why, hostFile) {
		t.Errorf("host-path link: %+v, %v", f, ok)
	}
	if f, ok := findingFor(rep, "/etc/systemd/network/20-climb.network"); !ok || !strings.Contains(f.Why, "imageonly0") {
		t.Errorf("climbing link should resolve to the image's /opt/img.network: %+v, %v", f, ok)
	}
	if f, ok := findingFor(rep, "/etc/systemd/network/30-dir.network"); ok {
		t.Errorf("a link to a directory is not a network file: %+v", f)
	}
}

func TestAuditErrors(t *testing.T) {
	dir := t.TempDir()
	sif := filepath.Join(dir, "image.sif")
	head := make([]byte, 32)
	copy(head, "#!/usr/bin/env run-singularity\n")
	if err := os.WriteFile(sif, append(head, []byte("SIF_MAGIC\x00rest")...), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(plain, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	big := newImage(t, merge(enable("systemd-networkd.service"), tree{"etc/systemd/network/": ""}))
	f, err := os.Create(filepath.Join(big, "etc/systemd/network/huge.network"))
	if err == nil {
		err = f.Truncate(maxConfigSize + 1)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, image string
		is          error
		msg         string
	}{
		{"truncated SIF file", sif, image.ErrCorrupt, "corrupt SIF file"},
		{"other file", plain, ErrNotImage, "neither a sandbox directory nor a SIF file"},
		{"missing", filepath.Join(dir, "nope"), os.ErrNotExist, "failed to open image"},
		{"empty directory", empty, ErrNotImage, "no /etc, no /usr"},
		{"oversized file", big, nil, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Audit(tt.image)
			if err == nil {
				t.Fatalf("Audit succeeded: %+v", rep)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q lacks %q", err, tt.msg)
			}
		})
	}
}

func TestReportJSON(t *testing.T) {
	rep := mustAudit(t, newImage(t, merge(enable("systemd-networkd.service"), tree{etcSysd + "systemd-resolved.service": "->/dev/null"})))
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Image    string `json:"image"`
		Risky    int    `json:"risky"`
		Findings []struct {
			Severity, Kind, Subject, Path, Why, Fix string
			Active                                  []string
		} `json:"findings"`
		Neutralized []struct{ Unit, How, Path string } `json:"neutralized"`
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Risky != 1 || len(back.Findings) != 1 || back.Findings[0].Subject != "systemd-networkd.service" ||
		back.Findings[0].Severity != "risky" || back.Findings[0].Kind != "unit" || len(back.Findings[0].Active) == 0 {
		t.Errorf("unexpected JSON report: %s", data)
	}
	if len(back.Neutralized) != 1 || back.Neutralized[0].How != "masked" {
		t.Errorf("unexpected neutralized list: %s", data)
	}
}
