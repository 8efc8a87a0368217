package imageaudit

import "testing"

// FuzzParseImageConfig feeds arbitrary bytes to the parsers of files read
// from an image, which its author controls: systemd INI files, ifupdown
// interfaces, sysctl.d files, udev rules and the hardening manifest. None
// may panic, and parsed INI entries never carry the comment or header
// syntax they were cut from.
func FuzzParseImageConfig(f *testing.F) {
	f.Add([]byte("[Unit]\nWants=a.service \\\n b.service\n# c\n[Service]\nExecStart=/bin/true\n"))
	f.Add([]byte("auto ib0\niface ib0 inet static\n  address 10.0.0.1/24\n"))
	f.Add([]byte("net.ipv4.ip_forward = 1\n-net.core.somaxconn=5\n"))
	f.Add([]byte(`SUBSYSTEM=="net", ACTION=="add", NAME="ib0", RUN+="/bin/x"` + "\n"))
	f.Add([]byte("\"etc/x\" sha256:00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, e := range parseINI(data) {
			if e.Key == "" && e.Value == "" && e.Section == "" {
				continue
			}
			if len(e.Key) > 0 && (e.Key[0] == '#' || e.Key[0] == ';') {
				t.Fatalf("comment parsed as a key: %+v", e)
			}
		}
		_ = parseInterfaces(data)
		_ = parseNetSysctls(data)
		_ = netRuleEffects(data)
		_, _ = parseManifest(data)
	})
}
