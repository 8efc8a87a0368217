//go:build !linux

package engine

import (
	"errors"
	"os"

	"github.com/apptainer/apptainer/internal/pkg/hostnet"
	"github.com/apptainer/apptainer/internal/pkg/instance"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

// Containers run on Linux only. These stand-ins give the engine's API a
// body elsewhere, so that the CLI above it builds and is vetted on any
// platform (make lint checks it for darwin). Each fails with
// errNotLinux and starts nothing.

var errNotLinux = errors.New("containers run on Linux only")

// Stage reports false: no stage runs off Linux.
func Stage() bool { return false }

func Run(*config.Config) (int, error) { return 255, errNotLinux }

func RunWith(*config.Config, *os.File, *os.File, *os.File) (int, error) {
	return 255, errNotLinux
}

func StartInstance(*config.Config, *os.File, *os.File, func(string)) (*StartResult, error) {
	return nil, errNotLinux
}

func JoinConfigOf(*config.Config) (JoinConfig, error) { return JoinConfig{}, errNotLinux }

func ExecInInstance(int, JoinConfig) error { return errNotLinux }

func CallerHasTerminal() bool { return false }

func JoinWithTerminal(int, JoinConfig) (int, error) { return 255, errNotLinux }

func RunInInstance(int, JoinConfig) (int, error) { return 255, errNotLinux }

func Trusted(instance.Paths, *instance.File) (*instance.File, error) {
	return nil, errNotLinux
}

func ReleaseGhost(instance.Paths, *instance.File) error { return errNotLinux }

func ReleaseUserGhost(instance.Paths, *instance.File) error { return errNotLinux }

func HostnetDiff(*instance.File) (hostnet.Diff, error) { return hostnet.Diff{}, errNotLinux }

func InstanceStats(*instance.File) (*InstanceUsage, error) { return nil, errNotLinux }

func NoteStopRequest(*instance.File) error { return nil }
