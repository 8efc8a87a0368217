package instance

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenLog opens the log file at path for appending, creating it with mode
// 0644 if needed. Root writes the logs of its instances, and their
// directory may be a user's (HOME or APPTAINER_CONFIGDIR from sudo -E):
// a symbolic link, or a hard link to a file elsewhere, planted under the
// log's name would make root append what the instance prints (content the
// image controls) to a file of the user's choosing. Both are refused.
func OpenLog(path string) (*os.File, error) {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0o644)
	if err != nil {
		return nil, err
	}
	if err := checkLog(fh); err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// WriteLog replaces the content of the log file at path with data, with
// OpenLog's checks.
func WriteLog(path string, data []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0o644)
	if err != nil {
		return err
	}
	defer fh.Close()
	if err := checkLog(fh); err != nil {
		return err
	}
	if err := fh.Truncate(0); err != nil {
		return err
	}
	_, err = fh.Write(data)
	return err
}

// checkLog refuses a log that is not a regular file with a single name.
func checkLog(fh *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(fh.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		return fmt.Errorf("refusing to write log %s: not a regular file with a single link", fh.Name())
	}
	return nil
}
