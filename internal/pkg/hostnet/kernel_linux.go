package hostnet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// The sysctl trees recorded in Kernel.Sysctls, under procSys.
var kernelSysctlTrees = []string{"kernel", "vm", "fs"}

// procSys is where the sysctls are; a variable for the tests.
var procSys = "/proc/sys"

// excludedKernelSysctls are keys whose value changes without anyone
// configuring anything. Found by reading every kernel.*, vm.* and fs.* key
// twice, five seconds apart, on an idle machine and on one running
// stress-ng (cpu, fork, pty, aio, vm, hdd, perf stressors), and by what
// the kernel documents for the others.
var excludedKernelSysctls = map[string]string{
	// Seen to change on an idle machine.
	"kernel.ns_last_pid":          "the last PID handed out",
	"kernel.random.uuid":          "a new random UUID on every read",
	"kernel.pty.nr":               "the number of ptys in use",
	"fs.dentry-state":             "dentry cache statistics",
	"fs.inode-nr":                 "inode cache statistics",
	"fs.inode-state":              "inode cache statistics",
	"fs.file-nr":                  "the number of open files",
	"fs.aio-nr":                   "the number of aio requests in use",
	"kernel.tainted":              "set by the kernel itself on warnings, oopses and out-of-tree or forced module loads",
	"kernel.random.entropy_avail": "the entropy estimate (fixed since Linux 5.18, moving before)",
	// The kernel lowers it by itself when perf interrupts take too long
	// ("perf: interrupt took too long ..., lowering
	// kernel.perf_event_max_sample_rate").
	"kernel.perf_event_max_sample_rate": "lowered by the kernel under perf load",
	"kernel.hung_task_detect_count":     "a count of hung tasks detected",
}

// excludedKernelSysctlPrefixes are trees left out as a whole.
var excludedKernelSysctlPrefixes = map[string]string{
	// Quota statistics: lookups, drops, reads, writes, cache hits,
	// allocated and free dquots, syncs.
	"fs.quota.": "quota statistics",
	// A file system of its own, recorded as Kernel.BinfmtMisc.
	"fs.binfmt_misc": "recorded as binfmt_misc",
}

func excludedKernelSysctl(key string) bool {
	if _, ok := excludedKernelSysctls[key]; ok {
		return true
	}
	for p := range excludedKernelSysctlPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// collectKernel records the kernel sysctls and binfmt_misc.
func collectKernel() (*Kernel, error) {
	k := &Kernel{Sysctls: map[string]string{}}
	for _, tree := range kernelSysctlTrees {
		values, err := readSysctlTree(filepath.Join(procSys, tree), tree, excludedKernelSysctl)
		if err != nil {
			return nil, err
		}
		for key, v := range values {
			k.Sysctls[key] = v
		}
	}
	k.BinfmtMisc = readBinfmtMisc()
	return k, nil
}

// binfmtMiscDir is where binfmt_misc is usually mounted.
const binfmtMiscDir = "/proc/sys/fs/binfmt_misc"

// openBinfmtMisc opens binfmt_misc's root directory and returns a
// function that closes it; a variable for the tests, which point it at a
// binfmt_misc of their own.
//
// The handlers are read through a detached mount of binfmt_misc
// (fsopen, fsmount: a mount in no mount namespace, which goes away when
// its descriptor is closed) rather than through the host's
// /proc/sys/fs/binfmt_misc: a host that never mounted it there still runs
// every handler that someone registered through a mount of their own (an
// instance without a user namespace shares the host's binfmt_misc), and
// reading the host's mount point would trigger systemd's automount of it.
// When the detached mount is refused (not root), the host's mount is used
// if there is one.
var openBinfmtMisc = func() (*os.File, func(), error) {
	if !kernelHasFS("binfmt_misc") {
		// Not built in and no module loaded; fsopen would load it.
		return nil, nil, errors.New("binfmt_misc is not available in this kernel")
	}
	dir, done, err := detachedMount("binfmt_misc")
	if err == nil {
		return dir, done, nil
	}
	var st unix.Statfs_t
	if unix.Statfs(binfmtMiscDir, &st) == nil && st.Type == unix.BINFMTFS_MAGIC {
		d, oerr := os.Open(binfmtMiscDir)
		if oerr == nil {
			return d, func() { d.Close() }, nil
		}
	}
	return nil, nil, fmt.Errorf("not mounted at %s, and a detached mount failed: %w", binfmtMiscDir, err)
}

// detachedMount mounts a file system of type fstype read-only in no mount
// namespace and returns its root directory, and a function that closes
// it, which unmounts it.
func detachedMount(fstype string) (*os.File, func(), error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, nil, fmt.Errorf("fsconfig %s: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	// The mount's descriptor is an O_PATH one, which cannot be listed.
	fd, err := unix.Openat(mfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("failed to open the %s mount: %w", fstype, err)
	}
	dir := os.NewFile(uintptr(fd), fstype)
	return dir, func() {
		dir.Close()
		unix.Close(mfd)
	}, nil
}

// kernelHasFS reports whether /proc/filesystems lists fstype.
func kernelHasFS(fstype string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return true // cannot tell: let the mount say
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[len(f)-1] == fstype {
			return true
		}
	}
	return false
}

// readBinfmtMisc records the binfmt_misc state.
func readBinfmtMisc() BinfmtMisc {
	dir, done, err := openBinfmtMisc()
	if err != nil {
		return BinfmtMisc{Entries: map[string]string{}, Unavailable: err.Error()}
	}
	defer done()
	return readBinfmtDir(dir)
}

// readBinfmtDir reads the status and the handlers of the binfmt_misc
// whose root is dir.
func readBinfmtDir(dir *os.File) BinfmtMisc {
	b := BinfmtMisc{Entries: map[string]string{}}
	names, err := dir.Readdirnames(-1)
	if err != nil {
		b.Unavailable = fmt.Sprintf("failed to list binfmt_misc: %v", err)
		return b
	}
	sort.Strings(names)
	buf := make([]byte, 4096)
	for _, name := range names {
		if name == "register" {
			continue // write-only
		}
		content, ok := readAt(int(dir.Fd()), name, buf)
		if !ok {
			continue // removed meanwhile
		}
		lines := strings.Split(strings.TrimSpace(content), "\n")
		if name == "status" {
			b.Status = strings.Join(lines, "; ")
			continue
		}
		b.Entries[name] = strings.Join(lines, "; ")
	}
	return b
}

// readAt reads a small file name in the directory dirfd.
func readAt(dirfd int, name string, buf []byte) (string, bool) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
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
		if n == 0 {
			return string(out), true
		}
		out = append(out, buf[:n]...)
	}
}
