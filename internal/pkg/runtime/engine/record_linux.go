package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/apptainer/apptainer/internal/pkg/instance"
	"golang.org/x/sys/unix"
)

// An instance file lives in the caller's configuration directory. That
// directory is a user's to write whenever root acts on a user's instances
// (-u) or runs with a user's HOME or APPTAINER_CONFIGDIR (sudo -E), so
// nothing in the file is fit to act on as root: a forged pid would be
// signalled, a forged runtime directory removed, a forged CNI plugin
// directory executed. What root acts on — the processes it signals or
// joins, the cgroups it kills, the networks it deletes, the directories
// it removes, the configuration a joined process gets — therefore comes
// from the monitor's own copy of the file, its record, which it keeps in
// the instance's runtime directory below RunRoot, where only root writes.
// The instance file only names the instance; the record is found from the
// store's user and the instance's name, and must agree with the file.

// recordFile, in an instance's runtime directory, is its monitor's record.
const recordFile = "instance.json"

// record is what a monitor keeps of its instance where only root writes.
type record struct {
	// ConfigDir is the configuration directory of the store whose file
	// names this instance: root with two HOMEs has two stores, and an
	// instance of one must not be acted on through the other.
	ConfigDir string `json:"configDir"`
	// File is the instance file as the monitor last wrote it.
	File *instance.File `json:"file"`
}

// instanceRunDir is the runtime directory of instance name of user.
func instanceRunDir(user, name string) string {
	return filepath.Join(RunRoot(), "instances", user, name)
}

// userMonitor reports whether this monitor runs as an ordinary user. Its
// instance is the user's, acted on by the user with the user's own
// privileges, which the kernel checks: it keeps no record, which is what
// root trusts, and root does not act on its files (see Trusted).
func userMonitor() bool { return os.Getuid() != 0 }

// writeRecord stores root's monitor's record of its instance.
func (m *monitor) writeRecord() error {
	if userMonitor() {
		return nil
	}
	return writeRecord(m.runDir, m.paths.ConfigDir, m.file)
}

// writeRecord stores the monitor's record of f in f's runtime directory,
// replacing the previous one atomically.
func writeRecord(runDir, configDir string, f *instance.File) error {
	if !filepath.IsAbs(runDir) {
		// A monitor without its runtime directory would write the record
		// wherever it happens to run.
		return fmt.Errorf("failed to record instance %s: runtime directory %q is not an absolute path", f.Name, runDir)
	}
	data, err := json.Marshal(record{ConfigDir: configDir, File: f})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(runDir, "."+recordFile+".tmp-")
	if err != nil {
		return fmt.Errorf("failed to record instance %s: %w", f.Name, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(runDir, recordFile))
	}
	if err != nil {
		return fmt.Errorf("failed to record instance %s: %w", f.Name, err)
	}
	return nil
}

// readRecord reads the record of instance name of user. The path is
// resolved from RunRoot with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS):
// the mapped root of a user namespace owns parts of a runtime directory,
// and no link it could plant there is followed. The record must be root's
// and writable by root only. A missing record wraps fs.ErrNotExist.
func readRecord(user, name string) (*record, error) {
	if err := instance.CheckName(name); err != nil {
		return nil, err
	}
	if user == "" || user == "." || user == ".." || filepath.Base(user) != user {
		return nil, fmt.Errorf("invalid user name %q", user)
	}
	fh, err := openBeneath(RunRoot(), filepath.Join("instances", user, name, recordFile), unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("failed to open the record of instance %s: %w", name, err)
	}
	defer fh.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(fh.Fd()), &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != 0 || st.Mode&0o022 != 0 {
		return nil, fmt.Errorf("the record of instance %s (%s) is not a regular file that only root can write", name, fh.Name())
	}
	data, err := io.ReadAll(io.LimitReader(fh, 16<<20))
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil || r.File == nil {
		return nil, fmt.Errorf("the record of instance %s (%s) is damaged: %v", name, fh.Name(), err)
	}
	if r.File.Name != name {
		return nil, fmt.Errorf("the record in %s describes instance %q", fh.Name(), r.File.Name)
	}
	return &r, nil
}

// openBeneath opens rel below dir following no symbolic link and never
// leaving dir or its mount (openat2 with RESOLVE_BENEATH,
// RESOLVE_NO_SYMLINKS and RESOLVE_NO_XDEV): what is
// below dir may have been made by a container's root. flags are open(2)'s.
// An error wraps the cause (fs.ErrNotExist for a missing file).
func openBeneath(dir, rel string, flags int) (*os.File, error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	path := filepath.Join(dir, rel)
	fd, err := unix.Openat2(dfd, rel, &unix.OpenHow{
		Flags:   uint64(flags) | unix.O_CLOEXEC | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return nil, &fs.PathError{Op: "openat2", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Trusted returns the monitor's record of the instance that f, read from
// the store paths, names: the file to act on. It fails, wrapping
// ErrUntrusted, when there is no record of an instance of that user and
// name started from that store, or when f's monitor is not the one
// recorded (a forged file, or one left by an instance that is gone).
func Trusted(paths instance.Paths, f *instance.File) (*instance.File, error) {
	r, err := readRecord(paths.User, f.Name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: instance %s of user %s %w in %s (started by another runtime or version?)",
			ErrUntrusted, f.Name, paths.User, ErrNoRecord, instanceRunDir(paths.User, f.Name))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	switch {
	case r.ConfigDir != paths.ConfigDir:
		return nil, fmt.Errorf("%w: instance %s of user %s was started from %s, not from %s", ErrUntrusted, f.Name, paths.User, r.ConfigDir, paths.ConfigDir)
	case r.File.PPid != f.PPid:
		return nil, fmt.Errorf("%w: the file of instance %s names monitor PID %d, the runtime's record PID %d", ErrUntrusted, f.Name, f.PPid, r.File.PPid)
	case r.File.PPid <= 0 || r.File.Pid < 0:
		return nil, fmt.Errorf("%w: the record of instance %s is damaged", ErrUntrusted, f.Name)
	}
	return r.File, nil
}
