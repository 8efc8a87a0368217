package engine

// This file holds what callers name on any platform: the results, errors
// and paths of the engine's API. The engine itself runs on Linux only
// (the _linux.go files); unsupported.go stands in for it elsewhere.

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/nsenter"
)

// StartResult is what `instance start` reports once the instance runs.
type StartResult struct {
	Pid int `json:"pid"`
	// MonitorPid is the monitor's PID, set by StartInstance: the process
	// that lives as long as the instance.
	MonitorPid int    `json:"-"`
	IP         string `json:"ip,omitempty"`
	State      string `json:"state,omitempty"`
	// Init names a boot's init (IdentifyInit); Readiness says how its
	// start ended (ReadyNotified, ReadySettled or ReadyUnknown).
	Init        string   `json:"init,omitempty"`
	Readiness   string   `json:"readiness,omitempty"`
	FailedUnits []string `json:"failedUnits,omitempty"`
	// HostnetChanges is the guard's report after READY ("" when unchanged).
	HostnetChanges string   `json:"hostnetChanges,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// IDMapHost is the first host id of the instance's user namespace.
	IDMapHost uint32 `json:"idMapHost,omitempty"`
	// RuntimeTime is the time from the CLI's start to the exec of the
	// instance's PID 1 (when config.TraceStart was set).
	RuntimeTime time.Duration `json:"runtimeTime,omitempty"`
	// Trace lists the steps of that time, in order.
	Trace []TracePoint `json:"trace,omitempty"`
}

// TracePoint is a step of an instance start, as time since the CLI began.
type TracePoint struct {
	Step  string        `json:"step"`
	After time.Duration `json:"after"`
}

// JoinConfig is the process started inside a running instance.
type JoinConfig struct {
	Args []string
	Env  []string
	Cwd  string
	// Caps, when not nil, become the process's capabilities.
	Caps       []string
	NoNewPrivs bool
	// Seccomp, when set, is the instance's seccomp filter (SeccompOf).
	Seccomp *nsenter.Seccomp
	// Cgroup joins the cgroup of the instance's PID 1 too (an instance
	// with a cgroup of its own, --boot).
	Cgroup bool
}

// ErrUntrusted is wrapped by Trusted's errors: root does not act on the
// instance file it was given.
var ErrUntrusted = errors.New("refusing to act on an instance file that does not match the runtime's record")

// ErrNoRecord is wrapped too when there is no record at all: the file was
// not written by a monitor of this runtime, or its instance has just gone
// (a monitor removes its file, then its record).
var ErrNoRecord = errors.New("has no record")

// GuardReportPath is where the after-stop guard report of an instance whose
// error log is errLog is written.
func GuardReportPath(errLog string) string {
	return strings.TrimSuffix(errLog, ".err") + ".hostnet.json"
}

// InstanceUsage is what `instance stats` shows of an instance. Raw is
// the cgroups library's whole statistics as JSON, which upstream prints
// for --json.
type InstanceUsage struct {
	// CPUTotal is the CPU time used so far, in nanoseconds.
	CPUTotal uint64
	// MemUsage and MemLimit are in bytes; MemLimit is 0 without a limit.
	MemUsage, MemLimit uint64
	// BlockRead and BlockWrite are bytes read and written.
	BlockRead, BlockWrite uint64
	Pids                  uint64
	Raw                   json.RawMessage
}

// RunRoot holds the runtime directories of containers and instances.
func RunRoot() string { return "/run/apptainer" }
