package capabilities

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// OfProcess reads the bounding, effective and permitted capability sets of
// process pid from /proc/<pid>/status.
func OfProcess(pid int) (bounding, effective, permitted []string, err error) {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("failed to read capabilities of process %d: %w", pid, err)
	}
	masks, err := parseStatus(data)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("failed to parse %q: %w", path, err)
	}
	return FromMask(masks.Bnd), FromMask(masks.Eff), FromMask(masks.Prm), nil
}

// statusMasks are the five capability sets of a /proc/<pid>/status file.
type statusMasks struct {
	Inh, Prm, Eff, Bnd, Amb uint64
}

// parseStatus extracts the Cap* lines of a /proc/<pid>/status file. Every
// set must be present, so that a truncated read is never mistaken for an
// empty set.
func parseStatus(data []byte) (statusMasks, error) {
	var m statusMasks
	fields := map[string]*uint64{
		"CapInh": &m.Inh, "CapPrm": &m.Prm, "CapEff": &m.Eff, "CapBnd": &m.Bnd, "CapAmb": &m.Amb,
	}
	seen := make(map[string]bool, len(fields))
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		dst, wanted := fields[key]
		if !ok || !wanted {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64)
		if err != nil {
			return statusMasks{}, fmt.Errorf("bad %s value %q: %w", key, strings.TrimSpace(value), err)
		}
		*dst = v
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		return statusMasks{}, err
	}
	for _, key := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if !seen[key] {
			return statusMasks{}, fmt.Errorf("no %s line", key)
		}
	}
	return m, nil
}
