package engine

import (
	"errors"
	"fmt"
	"slices"

	"github.com/apptainer/apptainer/internal/pkg/nsenter"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SeccompOf returns the seccomp filter of a container config in the form
// apptainer-nsenter loads, or nil when the config has none. The config
// holds a runtime-spec LinuxSeccomp, which can say far more than the
// runtime compiles: a filter of any other shape is refused, never loaded
// in part.
func SeccompOf(cfg *config.Config) (*nsenter.Seccomp, error) {
	if cfg.Spec.Linux == nil || cfg.Spec.Linux.Seccomp == nil {
		return nil, nil
	}
	sc := cfg.Spec.Linux.Seccomp
	if sc.DefaultAction != specs.ActAllow {
		return nil, fmt.Errorf("unsupported seccomp filter: default action %s (only %s)", sc.DefaultAction, specs.ActAllow)
	}
	out := &nsenter.Seccomp{}
	for _, rule := range sc.Syscalls {
		if rule.Action != specs.ActErrno || len(rule.Args) > 0 {
			return nil, fmt.Errorf("unsupported seccomp rule for %v: only %s without argument conditions", rule.Names, specs.ActErrno)
		}
		errno := int(unix.EPERM)
		if rule.ErrnoRet != nil {
			errno = int(*rule.ErrnoRet)
		}
		if out.Errno != 0 && out.Errno != errno {
			return nil, errors.New("unsupported seccomp filter: its rules return different errnos")
		}
		out.Errno = errno
		for _, n := range rule.Names {
			if !slices.Contains(out.Deny, n) {
				out.Deny = append(out.Deny, n)
			}
		}
	}
	if len(out.Deny) == 0 {
		return nil, nil
	}
	return out, nil
}
