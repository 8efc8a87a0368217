package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Case names: the first column of the table and the lanes of the plot.
const (
	caseHostnetStart    = "start→READY: instance start --boot --boot-hostnet"
	caseNoUsernsStart   = "start→READY: --boot --boot-hostnet-userns=false (no user namespace)"
	caseCNIStart        = "start→READY: instance start --boot (CNI bridge)"
	caseNspawnStart     = "start→READY: systemd-nspawn -b (host network)"
	caseCompareStart    = "start→READY: instance start --boot --boot-hostnet, built from -compare (before)"
	caseRuntime         = "runtime: CLI start → execve /sbin/init (strace, upper bound)"
	caseRuntimeOwn      = "runtime: CLI start → exec /sbin/init (trace point)"
	caseHostnetStop     = "stop: instance stop (--boot-hostnet, clean halt)"
	caseCNIStop         = "stop: instance stop (--boot CNI bridge)"
	caseNspawnStop      = "stop: systemd-nspawn (SIGTERM → exit)"
	caseExec            = "exec instance://N /bin/true"
	caseNsenter         = "nsenter -a -t PID /bin/true (floor)"
	caseCLIStart        = "apptainer version (the CLI's own start-up)"
	caseRSS             = "monitor RSS per booted instance (32 running)"
	caseRSSPss          = "monitor PSS per booted instance (32 running; shared pages split)"
	caseRSSAnon         = "monitor anonymous memory per booted instance (32 running)"
	caseList            = "instance list --json (100 running)"
	caseIperfLoHost     = "iperf3 loopback: bare host"
	caseIperfLoHN       = "iperf3 loopback: --boot-hostnet instance"
	caseIperfLoCNI      = "iperf3 loopback: --boot CNI instance (own lo)"
	caseIperfVHost      = "iperf3 veth peer: bare host"
	caseIperfVHN        = "iperf3 veth peer: --boot-hostnet instance"
	caseIperfVCNI       = "iperf3 veth peer: --boot CNI instance (bridge+NAT)"
	caseGuardBaseline   = "guard: host-network snapshot, baseline (hostnet.Take)"
	caseGuardCheck      = "guard: snapshot after READY/stop (firewall reused)"
	caseGuardKernel     = "guard: baseline with kernel.*, vm.*, fs.*, binfmt_misc (no user namespace)"
	caseEnvExec         = "exec IMAGE /bin/true (image environment: action script, 3 scripts)"
	caseEnvExecPeer     = "exec IMAGE /bin/true (same image without /bin/sh: no action script)"
	caseEnvJoin         = "exec instance://N /bin/true (plain instance, action script)"
	caseEnvJoinPeer     = "exec instance://N /bin/true (plain instance without /bin/sh)"
	caseUserExecSIF     = "exec SIF /bin/true as a user (squashfuse, user namespace)"
	caseRootExecSIF     = "exec SIF /bin/true as root (kernel squashfs on a loop device)"
	caseUserStart       = "start→READY as a user: instance start --boot --fakeroot SIF"
	caseRootUsernsStart = "start→READY as root: instance start --boot --boot-hostnet SIF (user namespace)"
)

// traceSteps are the steps `instance start -v` reports, in order; each is
// a row "runtime trace: STEP" with the time since the CLI began.
var traceSteps = []string{
	"monitor spawned", "monitor running", "instance file written",
	"container stage cloned", "container stage running",
	"host network baseline recorded", "container stage let go", "exec",
}

func traceCase(step string) string { return "runtime trace: " + step + " (after CLI start)" }

// rowSpec ties a case to its peer and target (issue 7's table).
type rowSpec struct {
	caseName, peer string
	cmp            Comparison
	target         float64
}

// rowSpecs is the table in order: the start rows, the trace steps, the rest.
var rowSpecs = buildRowSpecs()

func buildRowSpecs() []rowSpec {
	rows := []rowSpec{
		{caseHostnetStart, caseNspawnStart, RatioAtMost, 1.10},
		{caseHostnetStart, caseNoUsernsStart, RatioAtMost, 1.05},
		{caseHostnetStart, caseCompareStart, RatioAtMost, 1.05},
		{caseCNIStart, caseNspawnStart, Reported, 0},
		{caseHostnetStart, caseCNIStart, Reported, 0},
		{caseNspawnStart, "", Reported, 0},
		{caseRuntimeOwn, "", ValueAtMost, 0.025},
	}
	for _, step := range traceSteps {
		rows = append(rows, rowSpec{traceCase(step), "", Reported, 0})
	}
	return append(rows, []rowSpec{
		{caseRuntime, "", Reported, 0},
		{caseHostnetStop, caseNspawnStop, RatioAtMost, 1.2},
		{caseCNIStop, caseNspawnStop, Reported, 0},
		{caseNspawnStop, "", Reported, 0},
		{caseExec, caseNsenter, ValueAtMost, 0.010},
		{caseNsenter, "", Reported, 0},
		{caseCLIStart, "", Reported, 0},
		{caseRSS, "", ValueAtMost, 6 << 20},
		{caseRSSPss, "", Reported, 0},
		{caseRSSAnon, "", Reported, 0},
		{caseList, "", ValueAtMost, 0.030},
		{caseIperfLoHN, caseIperfLoHost, RatioAtLeast, 0.98},
		{caseIperfVHN, caseIperfVHost, RatioAtLeast, 0.98},
		{caseIperfLoCNI, caseIperfLoHost, Reported, 0},
		{caseIperfVCNI, caseIperfVHost, Reported, 0},
		{caseIperfLoHost, "", Reported, 0},
		{caseIperfVHost, "", Reported, 0},
		{caseGuardBaseline, "", Reported, 0},
		{caseGuardCheck, "", Reported, 0},
		{caseGuardKernel, caseGuardBaseline, Reported, 0},
		{caseEnvExec, caseEnvExecPeer, Reported, 0},
		{caseEnvJoin, caseEnvJoinPeer, Reported, 0},
		{caseUserExecSIF, caseRootExecSIF, Reported, 0},
		{caseRootExecSIF, "", Reported, 0},
		{caseUserStart, caseRootUsernsStart, Reported, 0},
		{caseRootUsernsStart, "", Reported, 0},
	}...)
}

// selectRows keeps the rows whose case (and peer) a group set out to
// measure; a series that exists but stayed empty shows as not measured.
func selectRows(specs []rowSpec, series map[string]*Series) []Row {
	var rows []Row
	for _, sp := range specs {
		c, ok := series[sp.caseName]
		if !ok {
			continue
		}
		row := Row{Case: c, Cmp: sp.cmp, Target: sp.target}
		if sp.peer != "" {
			p, ok := series[sp.peer]
			if !ok {
				continue
			}
			row.Peer = p
		}
		rows = append(rows, row)
	}
	return rows
}

func (r *runner) rows() []Row { return selectRows(rowSpecs, r.series) }

// writeOutputs saves the table and the start→READY plot.
func (r *runner) writeOutputs(dir, table string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to make %q: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(table), 0o644); err != nil {
		return fmt.Errorf("failed to write results: %w", err)
	}
	var lanes []*Series
	for _, n := range []string{caseHostnetStart, caseNspawnStart, caseCNIStart} {
		if s, ok := r.series[n]; ok && len(s.Values) > 0 {
			lanes = append(lanes, s)
		}
	}
	if len(lanes) == 0 {
		return nil
	}
	svg, err := StripPlotSVG("start → READY, one run (dots: runs, bar: median)", lanes)
	if err != nil {
		return fmt.Errorf("failed to draw the plot: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "start-ready.svg"), []byte(svg), 0o644); err != nil {
		return fmt.Errorf("failed to write the plot: %w", err)
	}
	return nil
}

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
