package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// An instance configuration file (`instance start --conf FILE NAME`, and
// SYSCONFDIR/apptainer/instances/NAME.conf for apptainer-instance@.service)
// says what to start, one "key = value" per line:
//
//	image = /srv/images/node.sif
//	boot = true
//	bind = /etc/munge:/etc/munge:ro
//	bind = /srv/data
//
// A key is "image", "arg" (an argument for the startscript, in order) or
// the long name of an `instance start` flag. The value is everything after
// the first '=', without the blanks around it, taken as it is: no quotes,
// escapes or variables, so a value needs no shell quoting and cannot
// smuggle in another flag. A list flag may come on several lines; any
// other key once.

// confEntry is one "key = value" line.
type confEntry struct {
	key, value string
	line       int
}

// instanceConf is what a file asks for, once checked against the flags.
type instanceConf struct {
	image string
	args  []string
	flags []confEntry
}

// confMaxBytes bounds the file: it is a handful of lines.
const confMaxBytes = 64 << 10

// parseInstanceConf reads the lines of file (named path in messages).
func parseInstanceConf(r io.Reader, path string) ([]confEntry, error) {
	var out []confEntry
	sc := bufio.NewScanner(io.LimitReader(r, confMaxBytes+1))
	sc.Buffer(make([]byte, 0, 4096), confMaxBytes+1)
	n, size := 0, 0
	for sc.Scan() {
		n++
		size += len(sc.Bytes()) + 1
		if size > confMaxBytes {
			return nil, fmt.Errorf("%s is larger than %d bytes", path, confMaxBytes)
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" {
			return nil, fmt.Errorf("%s:%d: want \"key = value\", got %q", path, n, line)
		}
		out = append(out, confEntry{key: key, value: value, line: n})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s is larger than %d bytes", path, confMaxBytes)
		}
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return out, nil
}

// confNotAllowed are flags a file may not set: the file itself, and help.
var confNotAllowed = map[string]bool{"conf": true, "help": true}

// checkInstanceConf checks entries against the flags of fs (the command
// line already parsed into it): every key must be image, arg or a known
// flag, image must be there once, a flag that is not a list once, and a
// flag given on the command line not in the file too.
func checkInstanceConf(entries []confEntry, fs *pflag.FlagSet, path string) (*instanceConf, error) {
	c := &instanceConf{}
	seen := map[string]int{}
	for _, e := range entries {
		where := fmt.Sprintf("%s:%d", path, e.line)
		switch e.key {
		case "image":
			if c.image != "" {
				return nil, fmt.Errorf("%s: image is set twice (first on line %d)", where, seen["image"])
			}
			if e.value == "" {
				return nil, fmt.Errorf("%s: image is empty", where)
			}
			c.image, seen["image"] = e.value, e.line
			continue
		case "arg":
			c.args = append(c.args, e.value)
			continue
		}
		f := fs.Lookup(e.key)
		switch {
		case f == nil || confNotAllowed[e.key] || f.Hidden:
			return nil, fmt.Errorf("%s: unknown key %q (want image, arg or the long name of an instance start flag, without --)", where, e.key)
		case f.Changed:
			return nil, fmt.Errorf("%s: --%s is given on the command line too; set it in one place", where, e.key)
		case seen[e.key] > 0 && !isListFlag(f):
			return nil, fmt.Errorf("%s: %s is set twice (first on line %d); only list flags may repeat", where, e.key, seen[e.key])
		}
		seen[e.key] = e.line
		c.flags = append(c.flags, e)
	}
	if c.image == "" {
		return nil, fmt.Errorf("%s: no image (want a line \"image = PATH\")", path)
	}
	return c, nil
}

// isListFlag reports whether f takes several values (a slice or array).
func isListFlag(f *pflag.Flag) bool {
	t := f.Value.Type()
	return strings.HasSuffix(t, "Slice") || strings.HasSuffix(t, "Array")
}

// applyInstanceConf sets the file's flags in fs, as if they were given on
// the command line.
func applyInstanceConf(c *instanceConf, fs *pflag.FlagSet, path string) error {
	for _, e := range c.flags {
		if err := fs.Set(e.key, e.value); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", path, e.line, e.key, err)
		}
	}
	return nil
}

// readInstanceConf opens and checks the file at path: it says what root
// runs, so only root may be able to change it (as apptainer.conf).
func readInstanceConf(path string, fs *pflag.FlagSet) (*instanceConf, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open the instance configuration: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := confFileSafe(fi, path); err != nil {
		return nil, err
	}
	entries, err := parseInstanceConf(f, path)
	if err != nil {
		return nil, err
	}
	return checkInstanceConf(entries, fs, path)
}
