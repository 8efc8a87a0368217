package hostnet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// InfinibandDir is where the RDMA stack puts its device nodes.
const InfinibandDir = "/dev/infiniband"

// InfinibandDevices returns the RDMA device nodes under devDir (normally
// InfinibandDir) that a --boot-hostnet instance is given, sorted by name:
// the verbs devices (uverbs0, uverbs1, ...) and rdma_cm, which is what MPI
// and storage clients need to use the fabric. The management devices umad*
// and issm* are left out on purpose: through them a process can act as a
// subnet manager or change port state on the real fabric, which is exactly
// what opensm, masked by default, would do. A missing devDir means the host
// has no RDMA stack and yields an empty list, not an error.
func InfinibandDevices(devDir string) ([]string, error) {
	entries, err := os.ReadDir(devDir)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to list RDMA devices in %q: %w", devDir, err)
	}
	devices := []string{}
	for _, e := range entries {
		if e.IsDir() || !isVerbsDevice(e.Name()) {
			continue
		}
		devices = append(devices, filepath.Join(devDir, e.Name()))
	}
	return devices, nil
}

// isVerbsDevice reports whether name is rdma_cm or uverbs<N>.
func isVerbsDevice(name string) bool {
	if name == "rdma_cm" {
		return true
	}
	n, ok := strings.CutPrefix(name, "uverbs")
	if !ok || n == "" {
		return false
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
