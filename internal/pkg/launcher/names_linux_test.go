package launcher

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/instance"
)

// TestInstanceNameLimitsAreReal checks the limits against the kernel and
// the instance store: at the limit the socket binds and the files are
// made; one over, the socket does not bind. (The files' limit keeps a
// margin for the random part of the temporary name, so one over may still
// work by chance.)
func TestInstanceNameLimitsAreReal(t *testing.T) {
	// The limit is computed for whatever run root is given: a temporary
	// one serves as well as /run/apptainer.
	runRoot := filepath.Join(t.TempDir(), "r")
	n, _ := MaxInstanceName(filepath.Join(runRoot, "instances", "root"), true)
	if n < 1 {
		t.Skipf("temporary directory %s too long for a notify socket at all", runRoot)
	}
	bind := func(name string) error {
		dir := filepath.Join(runRoot, "instances", "root", name, "host")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
		if err == nil {
			l.Close()
		}
		return err
	}
	if err := bind(strings.Repeat("b", n)); err != nil {
		t.Errorf("a notify socket for a name of %d characters (the limit) does not bind: %v", n, err)
	}
	if err := bind(strings.Repeat("b", n+1)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("a notify socket for a name of %d characters (one over) gave %v, want EINVAL", n+1, err)
	}

	files, _ := MaxInstanceName("", false)
	name := strings.Repeat("f", files)
	paths := instance.Paths{ConfigDir: t.TempDir(), Hostname: "node7", User: "root"}
	if err := paths.Create(&instance.File{Name: name, PPid: os.Getpid(), User: "root", Image: "/img"}); err != nil {
		t.Errorf("instance file for a name of %d characters (the limit): %v", files, err)
	}
	// Written again: the temporary copy is the longest name.
	if err := paths.Write(&instance.File{Name: name, PPid: os.Getpid(), User: "root", Image: "/img"}); err != nil {
		t.Errorf("instance file rewritten for a name of %d characters: %v", files, err)
	}
	out, errLog := paths.LogPaths(name)
	for _, p := range []string{out, errLog, strings.TrimSuffix(errLog, ".err") + ".hostnet.json"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Errorf("log file for a name of %d characters: %v", files, err)
		}
	}
	// And the limit is not far off: 24 characters more than the name is
	// over NAME_MAX.
	long := filepath.Join(t.TempDir(), "."+name+".json.tmp-"+strings.Repeat("z", 14))
	if err := os.WriteFile(long, nil, 0o644); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("a file name of %d bytes gave %v, want ENAMETOOLONG", len(filepath.Base(long)), err)
	}
}
