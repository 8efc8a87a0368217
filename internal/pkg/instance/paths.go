package instance

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Sub-directories of <configdir>/instances, as upstream names them.
const (
	instancesDir = "instances"
	appSubDir    = "app"
	logSubDir    = "logs"
)

// Paths locates one user's instances on one host. All three fields are
// required; methods that touch the disk refuse a Paths with an empty or
// path-like field rather than write to a surprising place.
type Paths struct {
	// ConfigDir is the absolute user configuration directory (see
	// DefaultConfigDir); for `-u <user>` it is that user's
	// <home>/.apptainer.
	ConfigDir string
	// Hostname is the host's hostname (os.Hostname on the host side, never
	// a container's), which keeps instances of hosts sharing a home apart.
	Hostname string
	// User is the name of the user owning the instances.
	User string
	// OnGhost, when set, is called with the file of each dead instance just
	// before its files are removed, so that the host-side resources its
	// killed monitor could not release (cgroups, network attachments,
	// runtime directories) are released too.
	OnGhost func(*File)
}

// DefaultConfigDir returns the user configuration directory: the value of
// APPTAINER_CONFIGDIR, else of SINGULARITY_CONFIGDIR, else
// <homeDir>/.apptainer. env looks variables up (os.Getenv in production; nil
// means an empty environment). An empty homeDir stands for "/", as upstream
// falls back to when the home directory is unusable; looking the home up in
// the user database is the caller's job.
func DefaultConfigDir(env func(string) string, homeDir string) string {
	if env != nil {
		for _, key := range []string{"APPTAINER_CONFIGDIR", "SINGULARITY_CONFIGDIR"} {
			if dir := env(key); dir != "" {
				return dir
			}
		}
	}
	if homeDir == "" {
		homeDir = "/"
	}
	return filepath.Join(homeDir, ".apptainer")
}

// userDir holds one directory per instance.
func (p Paths) userDir() string {
	return filepath.Join(p.ConfigDir, instancesDir, appSubDir, p.Hostname, p.User)
}

// logDir holds the .out and .err logs of all of the user's instances.
func (p Paths) logDir() string {
	return filepath.Join(p.ConfigDir, instancesDir, logSubDir, p.Hostname, p.User)
}

// RunParent holds the runtime directories of an ordinary user's instances,
// <configdir>/instances/run/<hostname>: beside the instance files, not in
// $XDG_RUNTIME_DIR, which a login manager empties at logout while an
// instance lives on (and which batch jobs often lack). Root's are below
// the runtime's run directory, where it keeps the records it trusts.
func (p Paths) RunParent() string {
	return filepath.Join(p.ConfigDir, instancesDir, "run", p.Hostname)
}

// RunDir is the runtime directory of an ordinary user's instance name,
// in RunParent.
func (p Paths) RunDir(name string) string {
	return filepath.Join(p.RunParent(), name)
}

// Dir is the directory of instance name:
// <configdir>/instances/app/<hostname>/<user>/<name>. It does not validate
// name; every method that touches the disk does.
func (p Paths) Dir(name string) string {
	return filepath.Join(p.userDir(), name)
}

// FilePath is the instance file of instance name: Dir(name)/<name>.json.
func (p Paths) FilePath(name string) string {
	return filepath.Join(p.Dir(name), name+".json")
}

// LogPaths are the stdout and stderr logs of instance name:
// <configdir>/instances/logs/<hostname>/<user>/<name>.out and .err. They
// outlive the instance, as upstream's do.
func (p Paths) LogPaths(name string) (out, err string) {
	base := filepath.Join(p.logDir(), name)
	return base + ".out", base + ".err"
}

// check refuses a Paths whose fields would not produce the documented layout
// (an empty field vanishes from filepath.Join; a slash or ".." moves it).
func (p Paths) check() error {
	if p.ConfigDir == "" || !filepath.IsAbs(p.ConfigDir) {
		return fmt.Errorf("invalid instance config directory %q: must be an absolute path", p.ConfigDir)
	}
	for _, field := range []struct{ what, value string }{{"hostname", p.Hostname}, {"user name", p.User}} {
		if err := checkComponent(field.value); err != nil {
			return fmt.Errorf("invalid %s %q for instance paths: %w", field.what, field.value, err)
		}
	}
	return nil
}

// checkComponent accepts a string usable as a single path component.
func checkComponent(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case s == "." || s == "..":
		return errors.New("not a name")
	case strings.ContainsAny(s, "/\x00"):
		return errors.New("contains a slash or NUL")
	}
	return nil
}

// checkName validates both the Paths and an instance name.
func (p Paths) checkName(name string) error {
	if err := p.check(); err != nil {
		return err
	}
	return CheckName(name)
}
