package imageaudit

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// sysctlDirs are read by systemd-sysctl, highest priority first.
var sysctlDirs = []string{
	"/etc/sysctl.d",
	"/usr/local/lib/sysctl.d",
	"/lib/sysctl.d",
	"/usr/lib/sysctl.d",
}

// maxListedKeys keeps a finding readable when a file sets many keys.
const maxListedKeys = 6

// parseNetSysctls returns the net.* keys a sysctl.d file sets, in file
// order. Keys may use "/" as the separator; a leading "-" (ignore a failed
// write) does not make the write any less real.
func parseNetSysctls(data []byte) []string {
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimPrefix(strings.TrimSpace(k), "-")
		if strings.HasPrefix(k, "net/") || (!strings.Contains(k, ".") && strings.Contains(k, "/")) {
			k = strings.ReplaceAll(k, "/", ".")
		}
		if strings.HasPrefix(k, "net.") {
			keys = append(keys, k)
		}
	}
	return keys
}

// listKeys shortens a key list for a one-line explanation.
func listKeys(keys []string) string {
	if len(keys) <= maxListedKeys {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(keys[:maxListedKeys], ", "), len(keys)-maxListedKeys)
}

// scanSysctl reports sysctl files that set net.* keys. Those keys belong to
// the network namespace of the writer, so on a shared namespace they change
// the host. /etc/sysctl.conf is read as well: distributions link it in as
// 99-sysctl.conf, and procps' `sysctl --system` reads it directly.
func (a *auditor) scanSysctl() error {
	files, err := a.r.mergeConfDirs(sysctlDirs, func(n string) bool { return strings.HasSuffix(n, ".conf") })
	if err != nil {
		return fmt.Errorf("failed to read sysctl.d: %w", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.Dest] = true
	}
	if st, dest := a.r.classify("/etc/sysctl.conf"); st != pathMissing && !seen[dest] {
		files = append(files, confFile{Name: "sysctl.conf", Path: "/etc/sysctl.conf", State: st, Dest: dest})
	}
	return a.scanConf(files, func(f confFile, data []byte) (configHit, bool) {
		keys := parseNetSysctls(data)
		return configHit{
			Kind: KindSysctl, Path: f.Path, Consumers: []string{"systemd-sysctl.service"},
			Why: "systemd-sysctl would write these keys into the host's network namespace: " + listKeys(keys),
		}, len(keys) > 0
	})
}
