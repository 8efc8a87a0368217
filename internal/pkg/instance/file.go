package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// States of an instance, as kept in File.State.
const (
	// StateStarting: the monitor has claimed the name and is starting the
	// container; for --boot, until init reports readiness.
	StateStarting = "starting"
	// StateRunning: the instance runs (for --boot: init reported
	// readiness and no unit has failed).
	StateRunning = "running"
	// StateDegraded: init is up but some units failed (see File.FailedUnits).
	StateDegraded = "degraded"
	// StateStopping: the monitor was asked to stop the instance, or its
	// PID 1 exited, and it is cleaning up.
	StateStopping = "stopping"
)

// maxFileSize bounds how much of an instance file is read. The largest field
// is the engine configuration, a few tens of kilobytes in practice; the bound
// only keeps a corrupted or hostile file from exhausting memory.
const maxFileSize = 16 << 20

// File is the content of an instance file,
// <configdir>/instances/app/<hostname>/<user>/<name>/<name>.json.
//
// The first group of fields, and their JSON keys, are upstream's and are
// always written, so upstream tools can list and stop our instances. The
// second group is ours; every field is omitted when empty, so a plain
// instance's file is byte-for-byte what upstream would write.
type File struct {
	// Pid is the host PID of the container's PID 1 (/sbin/init for --boot).
	Pid int `json:"pid"`
	// PPid is the host PID of the monitor; Alive checks it.
	PPid int `json:"ppid"`
	// Name is the instance name; it always equals the directory name.
	Name string `json:"name"`
	// User is the name of the user who started the instance.
	User string `json:"user"`
	// Image is the absolute path of the image (or of a temporary sandbox).
	Image string `json:"image"`
	// Config is the engine configuration as JSON; being []byte it is stored
	// base64-encoded, as upstream stores it.
	Config []byte `json:"config"`
	// UserNs tells whether the container has a user namespace.
	UserNs bool `json:"userns"`
	// Cgroup tells whether the container has its own cgroup.
	Cgroup bool `json:"cgroup"`
	// IP is the address CNI gave the container; empty without CNI.
	IP string `json:"ip"`
	// LogErrPath and LogOutPath are the monitor's stderr and stdout logs.
	LogErrPath string `json:"logErrPath"`
	LogOutPath string `json:"logOutPath"`
	// Checkpoint names a DMTCP checkpoint, if any.
	Checkpoint string `json:"checkpoint"`
	// ShareNSMode marks a --sharens instance, hidden by `list` without --all.
	ShareNSMode bool `json:"sharensMode"`

	// Boot marks an instance whose PID 1 is the image's init (--boot).
	Boot bool `json:"boot,omitempty"`
	// Init names a booted instance's init ("systemd", "busybox init" or
	// its path in the image), and StopSignal is how it is asked to halt
	// (0: upstream's default for the kind of instance).
	Init       string `json:"init,omitempty"`
	StopSignal int    `json:"stopSignal,omitempty"`
	// BootHostnet marks a booted instance sharing the host network.
	BootHostnet bool `json:"bootHostnet,omitempty"`
	// MaskedUnits are the systemd units masked to protect the host network.
	MaskedUnits []string `json:"maskedUnits,omitempty"`
	// State is one of the State constants. Readers must accept other
	// values from newer versions, and none from upstream's files.
	State string `json:"state,omitempty"`
	// FailedUnits are the units init reported as failed.
	FailedUnits []string `json:"failedUnits,omitempty"`
	// Networks are the CNI networks attached to the container, in order.
	Networks []string `json:"networks,omitempty"`
	// NetnsPath is the network namespace joined with --netns-path.
	NetnsPath string `json:"netnsPath,omitempty"`
	// RunDir is the instance's private runtime directory (mount points,
	// console socket); the monitor removes it on exit.
	RunDir string `json:"runDir,omitempty"`
	// CgroupPaths are the cgroups created for the instance, removed on stop.
	CgroupPaths []string `json:"cgroupPaths,omitempty"`
	// ContainerUUID is the ID handed to the container and to CNI.
	ContainerUUID string `json:"containerUUID,omitempty"`
	// HostnetGuard is the host-network guard's record for a --boot-hostnet
	// instance; this package stores it without interpreting it.
	HostnetGuard string `json:"hostnetGuard,omitempty"`
	// IDMapHost and IDMapSize describe the id map of an instance in a user
	// namespace: container ids 0..IDMapSize-1 are host ids IDMapHost
	// onwards.
	IDMapHost uint32 `json:"idMapHost,omitempty"`
	IDMapSize uint32 `json:"idMapSize,omitempty"`
	// Started is when the instance was started (RFC 3339 in the file).
	Started time.Time `json:"started,omitzero"`
}

// ReadFile reads and checks the instance file at path. It does not look at
// the monitor: use Alive for that. A symbolic link at path is refused, so a
// file planted in a user's directory cannot point a privileged reader at an
// arbitrary file.
func ReadFile(path string) (*File, error) {
	return readFile(path, decode)
}

// readFile reads the instance file at path with one of the decoders.
func readFile(path string, decode func([]byte) (*File, error)) (*File, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open instance file %q: %w", path, err)
	}
	defer fh.Close()
	return decodeFrom(fh, path, decode)
}

var readBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// readAllInto appends everything r yields to buf.
func readAllInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// decode parses an instance file. Unknown keys are accepted, as they come
// from other versions; a name that could not have been written (and that
// would escape the instance directory if used as a path) is refused.
func decode(data []byte) (*File, error) {
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if err := check(&f); err != nil {
		return nil, err
	}
	return &f, nil
}

// decodeWithoutConfig is decode for listings: it leaves Config empty.
// Unquoting and base64-decoding the engine configuration, tens of
// kilobytes per instance, is most of the time a listing takes otherwise.
func decodeWithoutConfig(data []byte) (*File, error) {
	var brief struct {
		*File
		// Shadows File.Config (a shallower field wins the key).
		Config skipValue `json:"config"`
	}
	brief.File = &File{}
	if err := json.Unmarshal(data, &brief); err != nil {
		return nil, err
	}
	if err := check(brief.File); err != nil {
		return nil, err
	}
	return brief.File, nil
}

// skipValue accepts any JSON value and keeps nothing.
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

// check refuses what could not have been written: a name that would
// escape the instance directory if used as a path, a negative PID.
func check(f *File) error {
	if err := CheckName(f.Name); err != nil {
		return err
	}
	if f.Pid < 0 || f.PPid < 0 {
		return errors.New("negative pid")
	}
	return nil
}

// encode renders f as written to disk.
func encode(f *File) ([]byte, error) {
	return json.Marshal(f)
}
