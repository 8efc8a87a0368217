package capabilities

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The values of the apptainer.conf directive "root default capabilities".
const (
	ModeFull = "full"
	ModeFile = "file"
	ModeNo   = "no"
)

// capabilityFile is the layout of capability.json: capability names
// granted per user name and per group name.
type capabilityFile struct {
	Users  map[string][]string `json:"users"`
	Groups map[string][]string `json:"groups"`
}

// RootDefault returns the capabilities root keeps in a container before
// --add-caps and --drop-caps are applied, for the given value of "root
// default capabilities":
//
//   - "full": every known capability;
//   - "no": none;
//   - "file": those capability.json (at capabilityJSON) grants to the
//     user "root". A missing or empty file grants nothing, as on a fresh
//     installation where `apptainer capability add` was never run.
//
// Group entries are not consulted: they depend on root's group list,
// which is the caller's business.
func RootDefault(mode string, capabilityJSON string) ([]string, error) {
	switch mode {
	case ModeFull:
		return Known(), nil
	case ModeNo:
		return []string{}, nil
	case ModeFile:
		return RootFromFile(capabilityJSON)
	}
	return nil, fmt.Errorf("invalid value %q for \"root default capabilities\" (want %s, %s or %s)", mode, ModeFull, ModeFile, ModeNo)
}

// RootFromFile returns what the capability file at path grants the user
// root; a missing or empty file grants nothing.
func RootFromFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read capability file %q: %w", path, err)
	}
	file, err := parseCapabilityFile(data)
	if err != nil {
		return nil, fmt.Errorf("failed to parse capability file %q: %w", path, err)
	}
	caps := Set{}
	for _, name := range file.Users["root"] {
		canon, ok := Normalize(name)
		if !ok {
			return nil, fmt.Errorf("capability file %q grants unknown capability %q to root", path, name)
		}
		caps = append(caps, canon)
	}
	return caps.Sorted(), nil
}

// parseCapabilityFile decodes capability.json. Whitespace alone counts as
// an empty file; anything else must be one JSON object.
func parseCapabilityFile(data []byte) (capabilityFile, error) {
	var file capabilityFile
	if len(bytes.TrimSpace(data)) == 0 {
		return file, nil
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return capabilityFile{}, err
	}
	return file, nil
}
