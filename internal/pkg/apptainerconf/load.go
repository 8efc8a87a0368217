package apptainerconf

import (
	"fmt"
	"os"
	"syscall"
)

// Load reads the configuration file at path. It refuses a file that is not a
// regular file or not owned by root: in a setuid installation the file
// decides what unprivileged users may do, so only root may write it.
func Load(path string) (*File, []Warning, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to open configuration file %q: %w", path, err)
	}
	defer fh.Close()

	// Stat the open file rather than the path, so the file checked is the
	// file read even if the path is replaced in between.
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("failed to stat configuration file %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("configuration file %q is not a regular file", path)
	}
	if err := CheckOwner(path, fi); err != nil {
		return nil, nil, err
	}
	return Parse(fh, path)
}

// CheckOwner returns an error unless fi, the result of a stat of path,
// belongs to uid 0. The message matches upstream's so scripts and admins
// see the same text.
func CheckOwner(path string, fi os.FileInfo) error {
	if fi == nil {
		return fmt.Errorf("failed to check owner of %q: no file information", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("failed to check owner of %q: no owner in file information", path)
	}
	if st.Uid != 0 {
		return fmt.Errorf("%s must be owned by root", path)
	}
	return nil
}
