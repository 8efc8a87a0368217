package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/apptainer/apptainer/internal/pkg/capabilities"
	"github.com/apptainer/apptainer/internal/pkg/nsenter"
	"golang.org/x/sys/unix"
)

// JoinConfig is the process started inside a running instance.
type JoinConfig struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	// Caps, when not nil, become the process's capabilities.
	Caps       []string `json:"caps,omitempty"`
	NoNewPrivs bool     `json:"noNewPrivs,omitempty"`
}

// JoinCommand prepares a command that enters every namespace of the
// instance whose PID 1 has host PID pid and runs jc there. The C
// constructor in package nsenter does the joining; the Go side only sets
// credentials and execs, so the cost is two process starts.
func JoinCommand(pid int, jc JoinConfig) (*exec.Cmd, error) {
	if len(jc.Args) == 0 {
		return nil, errors.New("no command to run in the instance")
	}
	blob, err := json.Marshal(jc)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	go func() {
		_, _ = w.Write(blob)
		w.Close()
	}()
	req := nsenter.ForPID(pid, func(t string) bool { return sameNamespace(pid, t) })
	cmd := exec.Command(execPath())
	cmd.Args = []string{"apptainer-join"}
	cmd.Env = []string{StageEnv + "=" + stageJoin, nsenter.Env(req)}
	cmd.ExtraFiles = []*os.File{r}
	return cmd, nil
}

// sameNamespace reports whether the caller already is in pid's namespace
// of type t; joining it again is pointless (and for some types refused).
func sameNamespace(pid int, t string) bool {
	var a, b unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, t), &a) != nil {
		return true // the kernel has no such namespace type
	}
	if unix.Stat("/proc/self/ns/"+t, &b) != nil {
		return false
	}
	return a.Ino == b.Ino && a.Dev == b.Dev
}

// joinMain runs inside the instance's namespaces (the constructor joined
// them and forked): set credentials and exec.
func joinMain() (int, error) {
	f := os.NewFile(configFD, "config")
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return 255, fmt.Errorf("failed to read join config: %w", err)
	}
	var jc JoinConfig
	if err := json.Unmarshal(b, &jc); err != nil {
		return 255, fmt.Errorf("failed to decode join config: %w", err)
	}
	if jc.Cwd != "" {
		if err := os.Chdir(jc.Cwd); err != nil {
			_ = os.Chdir("/")
		}
	}
	path, err := lookPath(jc.Args[0], jc.Env)
	if err != nil {
		return 255, err
	}
	if jc.Caps != nil {
		if err := capabilities.Apply(jc.Caps); err != nil {
			return 255, fmt.Errorf("failed to set capabilities: %w", err)
		}
	}
	if jc.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return 255, err
		}
	}
	err = unix.Exec(path, jc.Args, jc.Env)
	return 255, fmt.Errorf("exec %s failed: %w", path, err)
}
