package cli

import (
	"fmt"
	"os"
	"syscall"
)

// confFileSafe refuses an instance configuration that is not a regular
// file owned by root, or that others than its owner may change.
func confFileSafe(fi os.FileInfo, path string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case !ok || st.Uid != 0:
		return fmt.Errorf("%s must be owned by root", path)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s must not be writable by group or others (mode %04o)", path, fi.Mode().Perm())
	}
	return nil
}
