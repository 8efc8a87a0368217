package imageaudit

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseINI(t *testing.T) {
	in := "# comment\n; other comment\n[Unit]\nDescription = a b \nWants=a.service \\\n  b.service\n\n[Service]\nExecStart=/bin/x\nnot an assignment\n"
	want := []iniEntry{
		{"Unit", "Description", "a b"},
		{"Unit", "Wants", "a.service  b.service"},
		{"Service", "ExecStart", "/bin/x"},
	}
	if got := parseINI([]byte(in)); !reflect.DeepEqual(got, want) {
		t.Fatalf("parseINI = %#v, want %#v", got, want)
	}
}

func TestEffectiveConditions(t *testing.T) {
	ours := "[Unit]\nConditionPathExists=!" + MarkerPath + "\n"
	tests := []struct {
		name    string
		files   []string
		guarded bool
	}{
		{"no conditions", []string{"[Unit]\nDescription=x\n"}, false},
		{"our drop-in", []string{"[Unit]\nConditionCapability=CAP_NET_ADMIN\n", ours}, true},
		{"in the unit file itself", []string{ours}, true},
		{"reset by a later empty assignment", []string{"[Unit]\n", ours, "[Unit]\nConditionPathExists=\n"}, false},
		{"reset by any condition key", []string{ours, "[Unit]\nConditionVirtualization=\n"}, false},
		{"reset before ours does not matter", []string{"[Unit]\nConditionPathExists=\n", ours}, true},
		{"triggering form does not guard", []string{"[Unit]\nConditionPathExists=|!" + MarkerPath + "\n"}, false},
		{"other path does not guard", []string{"[Unit]\nConditionPathExists=!/run/host/other\n"}, false},
		{"positive form does not guard", []string{"[Unit]\nConditionPathExists=" + MarkerPath + "\n"}, false},
		{"wrong section", []string{"[Service]\nConditionPathExists=!" + MarkerPath + "\n"}, false},
		{"spaces after the bang", []string{"[Unit]\nConditionPathExists=! " + MarkerPath + "\n"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files [][]byte
			for _, f := range tt.files {
				files = append(files, []byte(f))
			}
			if got := hasMarkerCondition(effectiveConditions(files)); got != tt.guarded {
				t.Fatalf("guarded = %v, want %v", got, tt.guarded)
			}
		})
	}
}

func TestUnitNames(t *testing.T) {
	tests := []struct {
		name, template string
		dropInDirs     []string
	}{
		{"systemd-networkd.service", "", []string{"systemd-networkd.service.d", "systemd-.service.d", "service.d"}},
		{"ifup@eth0.service", "ifup@.service", []string{"ifup@eth0.service.d", "ifup@.service.d", "service.d"}},
		{"ifup@.service", "", []string{"ifup@.service.d", "service.d"}},
		{"a-b-c.socket", "", []string{"a-b-c.socket.d", "a-b-.socket.d", "a-.socket.d", "socket.d"}},
	}
	for _, tt := range tests {
		if got := templateOf(tt.name); got != tt.template {
			t.Errorf("templateOf(%q) = %q, want %q", tt.name, got, tt.template)
		}
		if got := dropInDirNames(tt.name); !reflect.DeepEqual(got, tt.dropInDirs) {
			t.Errorf("dropInDirNames(%q) = %q, want %q", tt.name, got, tt.dropInDirs)
		}
	}
}

func TestTriggeredUnits(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"systemd-networkd.socket", "[Socket]\nListenNetlink=route 1361\n", []string{"systemd-networkd.service"}},
		{"x.socket", "[Socket]\nService=y.service\n", []string{"y.service"}},
		{"sshd.socket", "[Socket]\nAccept=yes\n", []string{"sshd@.service"}},
		{"fstrim.timer", "[Timer]\nOnCalendar=weekly\n", []string{"fstrim.service"}},
		{"a.path", "[Path]\nPathExists=/x\nUnit=b.service\n", []string{"b.service"}},
		{"a.service", "[Service]\n", nil},
	}
	for _, tt := range tests {
		if got := triggeredUnits(tt.name, parseINI([]byte(tt.file))); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("triggeredUnits(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPresetFor(t *testing.T) {
	rules := parsePresets([]byte("# policy\ndisable systemd-resolved.service\nenable systemd-*.service\nenable getty@.service tty1\ndisable *\n"), "x.preset")
	tests := []struct {
		unit, action string
	}{
		{"systemd-resolved.service", "disable"},
		{"systemd-networkd.service", "enable"},
		{"getty@.service", "enable"},
		{"NetworkManager.service", "disable"},
	}
	for _, tt := range tests {
		r, ok := presetFor(rules, tt.unit)
		if !ok || r.Action != tt.action {
			t.Errorf("presetFor(%q) = %+v, %v; want %q", tt.unit, r, ok, tt.action)
		}
	}
	if _, ok := presetFor(rules[:1], "other.service"); ok {
		t.Errorf("presetFor matched a unit no rule names")
	}
}

func TestParseInterfaces(t *testing.T) {
	in := "# comment\nsource /etc/network/interfaces.d/*\nauto lo eth0\niface lo inet loopback\niface eth0 inet dhcp\nallow-hotplug ib0\niface ib0 inet static\n  address 10.0.0.2/24\nallow-auto \\\n eth1\n"
	st := parseInterfaces([]byte(in))
	if !reflect.DeepEqual(st.Auto, []string{"eth0", "eth1"}) {
		t.Errorf("Auto = %q", st.Auto)
	}
	if !reflect.DeepEqual(st.Hotplug, []string{"ib0"}) {
		t.Errorf("Hotplug = %q", st.Hotplug)
	}
	if got := st.describe(st.Auto); got != "eth0 (inet dhcp), eth1" {
		t.Errorf("describe = %q", got)
	}
	if st := parseInterfaces([]byte("auto lo\niface lo inet loopback\n")); len(st.Auto)+len(st.Hotplug) != 0 {
		t.Errorf("loopback only: %+v", st)
	}
}

func TestParseNetSysctls(t *testing.T) {
	in := "# c\n; c\nnet.ipv4.ip_forward = 1\n-net.ipv6.conf.all.forwarding=1\nnet/ipv4/conf/eth0/rp_filter=2\nkernel.pid_max = 4194304\nfs.protected_hardlinks=1\nnet.core.rmem_max\n"
	want := []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.conf.eth0.rp_filter"}
	if got := parseNetSysctls([]byte(in)); !reflect.DeepEqual(got, want) {
		t.Fatalf("parseNetSysctls = %q, want %q", got, want)
	}
	if got := listKeys([]string{"a", "b", "c", "d", "e", "f", "g", "h"}); got != "a, b, c, d, e, f and 2 more" {
		t.Errorf("listKeys = %q", got)
	}
}

func TestNetRuleEffects(t *testing.T) {
	tests := []struct {
		name, rules string
		want        []string // substrings, one per effect, in order
	}{
		{"persistent net rename", `SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:12:34:56", NAME="lan0"`, []string{`NAME="lan0"`}},
		{"final rename", `SUBSYSTEM=="net", NAME:="x0"`, []string{`NAME:="x0"`}},
		{"link policy", "SUBSYSTEM!=\"net\", GOTO=\"end\"\nIMPORT{builtin}=\"net_setup_link\"\nNAME==\"\", ENV{ID_NET_NAME}!=\"\", NAME=\"$env{ID_NET_NAME}\"\nLABEL=\"end\"", []string{".link files", `NAME="$env{ID_NET_NAME}"`}},
		{"hotplug run", `SUBSYSTEM=="net", ACTION=="add|remove", RUN+="ifupdown-hotplug"`, []string{`"ifupdown-hotplug"`}},
		{"systemd wants", `SUBSYSTEM=="net", ENV{SYSTEMD_WANTS}+="x.service"`, []string{"x.service"}},
		{"match on NAME is not a rename", `SUBSYSTEM=="net", NAME=="eth0", RUN+="/bin/true"`, []string{`"/bin/true"`}},
		{"run on block devices is ignored", `SUBSYSTEM=="block", RUN+="/bin/true"`, nil},
		{"comment and continuation", "# NAME=\"no\"\nSUBSYSTEM==\"net\", \\\n  NAME=\"y0\"", []string{`NAME="y0"`}},
		{"comma inside quotes", `SUBSYSTEM=="net", PROGRAM=="/bin/echo a,b", NAME="z0"`, []string{`NAME="z0"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := netRuleEffects([]byte(tt.rules))
			if len(got) != len(tt.want) {
				t.Fatalf("effects = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("effect %d = %q, want it to mention %s", i, got[i], w)
				}
			}
		})
	}
}

func TestDescribeNetworkManager(t *testing.T) {
	if _, active := describeNMKeyfile(parseINI([]byte("[connection]\nid=x\nautoconnect=false\n"))); active {
		t.Errorf("autoconnect=false counted as active")
	}
	why, active := describeNMKeyfile(parseINI([]byte("[connection]\nid=ib\ntype=infiniband\ninterface-name=ib0\n")))
	if !active || !strings.Contains(why, "ib0") || !strings.Contains(why, "infiniband") {
		t.Errorf("keyfile: %q, %v", why, active)
	}
	if _, active := describeIfcfg([]byte("DEVICE=eth0\nONBOOT=no\n"), "eth0"); active {
		t.Errorf("ONBOOT=no counted as active")
	}
	why, active = describeIfcfg([]byte("DEVICE=\"eth1\"\nBOOTPROTO=dhcp\n"), "x")
	if !active || !strings.Contains(why, "eth1") || !strings.Contains(why, "dhcp") {
		t.Errorf("ifcfg: %q, %v", why, active)
	}
}

func TestDescribeNetworkd(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"10-ib0.network", "[Match]\nName=ib0\n[Link]\nMTUBytes=4092\n[Network]\nAddress=10.0.0.7/24\n", "links matching Name=ib0 of the host (Address=, MTUBytes=)"},
		{"99-all.network", "[Network]\nDHCP=yes\n", "every link of the host (DHCP=)"},
		{"br0.netdev", "[NetDev]\nName=br0\nKind=bridge\n", `the bridge link "br0"`},
		{"99-default.link", "[Match]\nOriginalName=*\n[Link]\nNamePolicy=keep kernel\n", "renaming them"},
	}
	for _, tt := range tests {
		if got := describeNetworkd(tt.name, parseINI([]byte(tt.file))); !strings.Contains(got, tt.want) {
			t.Errorf("describeNetworkd(%s) = %q, want it to contain %q", tt.name, got, tt.want)
		}
	}
}
