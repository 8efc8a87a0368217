package hostnet

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// procSysNet holds the calling thread's network namespace's sysctls: the
// kernel resolves /proc/sys/net through the reading task's namespace.
const procSysNet = "/proc/sys/net"

// excludedSysctls are keys whose value changes without anyone configuring
// anything, so that comparing them would report noise. The first two were
// seen to change in a fresh namespace with nothing but loopback traffic;
// the others exist only in the initial namespace and change when the kernel
// does something for itself.
var excludedSysctls = map[string]string{
	// Zero until the first TCP Fast Open connection, then a random key the
	// kernel generates (0 -> a key after one TFO connect on loopback).
	"net.ipv4.tcp_fastopen_key": "generated on first TCP Fast Open use",
	// Read-only count of tracked connections (0 -> 21 after 21 loopback
	// datagrams with a conntrack rule loaded).
	"net.netfilter.nf_conntrack_count": "live connection count",
	// Read-only lists that grow when the kernel loads a congestion control
	// or upper-layer protocol module on demand; they are not settings.
	"net.ipv4.tcp_available_congestion_control": "grows when a module loads",
	"net.ipv4.tcp_available_ulp":                "grows when a module loads",
	// Read-only; filled with random bytes the first time a multi-queue
	// driver asks for the RSS key.
	"net.core.netdev_rss_key": "filled when a driver first needs it",
}

// readSysctls reads every net.* sysctl under root (procSysNet outside of
// tests) and returns them keyed as sysctl(8) names them, without the
// excludedSysctls.
func readSysctls(root string) (map[string]string, error) {
	return readSysctlTree(root, "net", func(key string) bool {
		_, skip := excludedSysctls[key]
		return skip
	})
}

// readSysctlTree reads every sysctl under root, whose keys start with
// name ("net" for /proc/sys/net), except those skip returns true for, and
// returns them keyed as sysctl(8) names them. Files that cannot be read
// are skipped: write-only ones (route.flush), ones the kernel refuses to
// print (stable_secret before it is set: EIO) and ones that vanish while
// walking (a link deleted meanwhile). A directory skip returns true for
// (its key) is not entered.
//
// There are hundreds of them and a host network snapshot waits for them
// (before init may start, and before `instance stop` returns): half are
// read on a second thread in the same network namespace, each with a bare
// open/read/close.
func readSysctlTree(root, name string, skip func(key string) bool) (map[string]string, error) {
	var rels []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			// An unreadable or vanished directory below root: skip it.
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if path == root {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if skip(sysctlKeyIn(name, rel)) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			rels = append(rels, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read sysctls under %q: %w", root, err)
	}
	half := len(rels) / 2
	other := make(map[string]string, half)
	done := goInThisNetns(func() error {
		readSysctlFiles(root, name, rels[:half], other)
		return nil
	})
	values := make(map[string]string, len(rels))
	readSysctlFiles(root, name, rels[half:], values)
	if err := <-done; err != nil {
		return nil, err
	}
	for k, v := range other {
		values[k] = v
	}
	return values, nil
}

// readSysctlFiles reads the files rels under root, whose keys start with
// name, into values.
func readSysctlFiles(root, name string, rels []string, values map[string]string) {
	buf := make([]byte, 4096)
	for _, rel := range rels {
		if v, ok := readSmallFile(filepath.Join(root, rel), buf); ok {
			values[sysctlKeyIn(name, rel)] = strings.Join(strings.Fields(v), " ")
		}
	}
}

// readSmallFile reads a file of at most a few pages with buf as scratch.
// procfs hands out a sysctl's whole value in one read, so a short read is
// taken as the end: one read instead of two per file.
func readSmallFile(path string, buf []byte) (string, bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	var out []byte
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", false
		}
		out = append(out, buf[:n]...)
		if n < len(buf) {
			return string(out), true
		}
	}
}
