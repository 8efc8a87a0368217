package main

import (
	"encoding/xml"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		in      []float64
		want    Summary
		wantErr bool
	}{
		{"odd", []float64{3, 1, 2}, Summary{N: 3, Median: 2, Min: 1, Max: 3}, false},
		{"even averages the middle", []float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}, false},
		{"one", []float64{7}, Summary{N: 1, Median: 7, Min: 7, Max: 7}, false},
		{"empty", nil, Summary{}, true},
		{"nan", []float64{1, math.NaN()}, Summary{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Summarize(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUnitFormat(t *testing.T) {
	tests := []struct {
		u    Unit
		v    float64
		want string
	}{
		{Seconds, 0.0123, "12.3 ms"},
		{Seconds, 1.5, "1.500 s"},
		{Bytes, 6 << 20, "6.0 MiB"},
		{BitsPerSecond, 41.5e9, "41.50 Gbit/s"},
	}
	for _, tt := range tests {
		if got := tt.u.Format(tt.v); got != tt.want {
			t.Errorf("Format(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestJudge(t *testing.T) {
	fast := &Series{Name: "a", Values: []float64{1.0, 1.1, 1.2}}
	slow := &Series{Name: "b", Values: []float64{2.0, 2.2}}
	tests := []struct {
		name      string
		row       Row
		ratio     float64
		judged    bool
		met       bool
		targetStr string
	}{
		{"ratio at most, met", Row{Case: fast, Peer: slow, Cmp: RatioAtMost, Target: 1.10}, 1.1 / 2.1, true, true, "<= 1.10x"},
		{"ratio at most, missed", Row{Case: slow, Peer: fast, Cmp: RatioAtMost, Target: 1.10}, 2.1 / 1.1, true, false, "<= 1.10x"},
		{"ratio at least, missed", Row{Case: fast, Peer: slow, Cmp: RatioAtLeast, Target: 0.98}, 1.1 / 2.1, true, false, ">= 0.98x"},
		{"value at most", Row{Case: fast, Cmp: ValueAtMost, Target: 1.1}, 0, true, true, "<= 1.100 s"},
		{"value at most, missed", Row{Case: slow, Cmp: ValueAtMost, Target: 1.1}, 0, true, false, "<= 1.100 s"},
		{"reported", Row{Case: fast, Peer: slow}, 1.1 / 2.1, false, false, "reported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Judge(tt.row)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(v.Ratio-tt.ratio) > 1e-9 || v.Judged != tt.judged || v.Met != tt.met || v.TargetString != tt.targetStr {
				t.Fatalf("got ratio %v judged %v met %v %q, want %v %v %v %q",
					v.Ratio, v.Judged, v.Met, v.TargetString, tt.ratio, tt.judged, tt.met, tt.targetStr)
			}
		})
	}
}

func TestTableMarksUnmeasuredRows(t *testing.T) {
	ok := &Series{Name: "exec", Values: []float64{0.004, 0.006, 0.005}}
	floor := &Series{Name: "nsenter", Values: []float64{0.002}}
	empty := &Series{Name: "rss", Unit: Bytes}
	out, err := Table([]Row{
		{Case: ok, Peer: floor, Cmp: ValueAtMost, Target: 0.010},
		{Case: empty, Cmp: ValueAtMost, Target: 6 << 20},
	})
	if err == nil || !strings.Contains(err.Error(), "rss") {
		t.Fatalf("want an error naming the unmeasured row, got %v", err)
	}
	want := "| exec | 3 | 5.0 ms | 4.0 ms | 6.0 ms | nsenter | 2.0 ms | 2.50x | <= 10.0 ms | yes |"
	if !strings.Contains(out, want) {
		t.Errorf("table lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "| rss | 0 |") || !strings.Contains(out, "not measured") {
		t.Errorf("unmeasured row missing:\n%s", out)
	}
}

func TestSelectRows(t *testing.T) {
	series := map[string]*Series{
		caseExec:    {Name: caseExec},
		caseNsenter: {Name: caseNsenter},
		caseList:    {Name: caseList},
	}
	rows := selectRows(rowSpecs, series)
	var got []string
	for _, r := range rows {
		got = append(got, r.Case.Name)
	}
	want := []string{caseExec, caseNsenter, caseList}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("rows %q, want %q", got, want)
	}
	if rows[0].Peer == nil || rows[0].Peer.Name != caseNsenter {
		t.Fatalf("exec row has peer %v, want nsenter", rows[0].Peer)
	}
}

func TestStripPlotSVG(t *testing.T) {
	a := &Series{Name: "apptainer <hostnet>", Values: []float64{0.5, 0.6, 0.7}}
	b := &Series{Name: "nspawn", Values: []float64{0.3, 0.35}}
	svg, err := StripPlotSVG("start & ready", []*Series{a, b})
	if err != nil {
		t.Fatal(err)
	}
	// Well-formed XML: names with markup characters are escaped.
	dec := xml.NewDecoder(strings.NewReader(svg))
	circles, lines := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("invalid SVG: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "circle":
				circles++
			case "line":
				lines++
			}
		}
	}
	if circles != 5 {
		t.Errorf("%d dots, want one per value (5)", circles)
	}
	if !strings.Contains(svg, "median 600.0 ms") || !strings.Contains(svg, "median 325.0 ms") {
		t.Errorf("median markers missing:\n%s", svg)
	}
	if _, err := StripPlotSVG("x", []*Series{{Name: "empty"}}); err == nil {
		t.Error("empty series plotted without error")
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{140: 200, 100: 100, 0.3: 0.5, 7: 10, 12: 20} {
		if got := niceStep(raw); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tapptainer\nVmPeak:\t  800000 kB\nVmRSS:\t    5120 kB\nThreads:\t5\n"
	got, err := parseVmRSS(status)
	if err != nil || got != 5<<20 {
		t.Fatalf("got %v, %v; want 5 MiB", got, err)
	}
	rollup := "Rss:                5756 kB\nPss:                1711 kB\nPss_Anon:           1584 kB\nAnonymous:          1584 kB\n"
	if v, err := parseKB(rollup, "Pss"); err != nil || v != 1711*1024 {
		t.Errorf("parseKB(Pss) = %v, %v", v, err)
	}
	if v, err := parseKB(rollup, "Anonymous"); err != nil || v != 1584*1024 {
		t.Errorf("parseKB(Anonymous) = %v, %v", v, err)
	}
	if _, err := parseVmRSS("Name:\tkthread\n"); err == nil {
		t.Error("no VmRSS line accepted")
	}
}

func TestMonitorName(t *testing.T) {
	tests := map[string]string{
		"Apptainer instance: root [web1]\x00":         "web1",
		"Apptainer instance: root [bench-rss-03]":     "bench-rss-03",
		"/usr/bin/apptainer\x00instance\x00start\x00": "",
		"Apptainer instance: root []":                 "",
	}
	for in, want := range tests {
		if got := monitorName(in); got != want {
			t.Errorf("monitorName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseStraceExecs(t *testing.T) {
	text := `100   1000.000100 execve("/tmp/apptainer", ["apptainer"], 0x7ffd /* 3 vars */) = 0
101 1000.002000 execve("/usr/sbin/nope", ["nope"], 0x7ffd /* 3 vars */) = -1 ENOENT (No such file or directory)
102 1000.010000 execve("/sbin/init", ["/sbin/init"], 0x7ffd /* 9 vars */ <unfinished ...>
103 1000.011000 execve("/bin/true", ["true"], 0x7ffd) = 0
102 1000.012000 <... execve resumed>) = 0
102 1000.300000 execve("/sbin/init", ["/sbin/init"], 0x7ffd) = 0
100 1000.400000 +++ exited with 0 +++
`
	ev, err := parseStraceExecs(text)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range ev {
		paths = append(paths, e.Path)
	}
	if got := strings.Join(paths, " "); got != "/tmp/apptainer /bin/true /sbin/init /sbin/init" {
		t.Fatalf("events %q", got)
	}
	d, err := runtimeSpan(ev, "/sbin/init")
	if err != nil {
		t.Fatal(err)
	}
	if want := 9900 * time.Microsecond; d < want-time.Microsecond || d > want+time.Microsecond {
		t.Fatalf("span %v, want %v (entry of the first successful init execve)", d, want)
	}
	if _, err := runtimeSpan(ev[:2], "/sbin/init"); err == nil {
		t.Error("span without an init execve accepted")
	}
	if !cliExited(text) || cliExited(strings.ReplaceAll(text, "100 1000.400000 +++", "102 1000.400000 +++")) {
		t.Error("cliExited must look at the first traced process only")
	}
}

func TestLddPaths(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibiperf.so.0 => /lib/x86_64-linux-gnu/libiperf.so.0 (0x00007f)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n"
	libs, loader := lddPaths(out)
	if loader != "/lib64/ld-linux-x86-64.so.2" || len(libs) != 3 {
		t.Fatalf("libs %q loader %q", libs, loader)
	}
}

func TestParseIperf(t *testing.T) {
	got, err := parseIperf([]byte(`{"end":{"sum_received":{"bits_per_second":4.2e10}}}`))
	if err != nil || got != 4.2e10 {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := parseIperf([]byte(`{"error":"unable to connect to server: Connection refused"}`)); err == nil {
		t.Error("iperf3 error accepted")
	}
}

func TestHasReady(t *testing.T) {
	if !hasReady("STATUS=Container running.\nREADY=1\n") || hasReady("STATUS=READY=1 soon") {
		t.Error("hasReady must match a whole READY=1 line")
	}
}

func TestParseRuntimeTrace(t *testing.T) {
	steps, err := parseRuntimeTrace("VERBOSE: runtime trace (ms after CLI start): monitor spawned +9.6, container stage let go +95.1, exec +116.4\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []traceStep{{"monitor spawned", 9600 * time.Microsecond}, {"container stage let go", 95100 * time.Microsecond}, {"exec", 116400 * time.Microsecond}}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("steps = %v, want %v", steps, want)
	}
	if _, err := parseRuntimeTrace("VERBOSE: runtime trace (ms after CLI start): monitor spawned 9.6\n"); err == nil {
		t.Error("an item without +N accepted")
	}
}

func TestParseRuntimeTime(t *testing.T) {
	d, err := parseRuntimeTime("INFO: x\nVERBOSE: runtime time from CLI start to exec of /sbin/init: 23.4 ms\n")
	if err != nil || d != 23400*time.Microsecond {
		t.Errorf("got %v %v", d, err)
	}
	if _, err := parseRuntimeTime("nothing here"); err == nil {
		t.Error("no line accepted")
	}
}

func TestParseSubIDs(t *testing.T) {
	text := "# comment\nalice:100000:65536\nbob:165536:65536\nalice:300000:10\nalice:x:5\nalice:5:0\nalice:1:2:3\n  alice:400000:1  \n"
	got := parseSubIDs(text, "alice")
	want := []idRange{{100000, 65536}, {300000, 10}, {400000, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := parseSubIDs(text, "carol"); got != nil {
		t.Errorf("a user without entries got %v", got)
	}
	// A name that is a prefix of another's is not that one.
	if got := parseSubIDs("alice2:1:1\n", "alice"); got != nil {
		t.Errorf("alice got alice2's range %v", got)
	}
}

func TestIDSetHas(t *testing.T) {
	s := idSet{uid: 1001, ranges: []idRange{{100000, 65536}}}
	for id, want := range map[int]bool{1001: true, 100000: true, 165535: true, 165536: false, 99999: false, 0: false, 1000: false} {
		if got := s.has(id); got != want {
			t.Errorf("has(%d) = %v, want %v", id, got, want)
		}
	}
	// The zero set owns nothing, root least of all.
	if (idSet{}).has(0) {
		t.Error("the zero idSet has uid 0")
	}
}

func TestStatusUIDs(t *testing.T) {
	status := "Name:\tsh\nUmask:\t0022\nUid:\t1001\t1001\t0\t1001\nGid:\t1001\t1001\t1001\t1001\n"
	if got, want := statusUIDs(status), []int{1001, 1001, 0, 1001}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := statusUIDs("Name:\tx\n"); got != nil {
		t.Errorf("no Uid line: got %v", got)
	}
}

func TestRefusalReason(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"first line", "FATAL:   --fakeroot instances are not supported by this build\nmore\n", "FATAL:   --fakeroot instances are not supported by this build"},
		{"leading blank lines", "\n  \nWARNING: x\n", "WARNING: x"},
		{"empty", "", "no message"},
		{"column separator", "a | b", `a \| b`},
		{"terminal escapes", "bad \x1b[31mred\x1b[0m \x9b2J", "bad ?[31mred?[0m ?2J"},
		{"C1 control", "a\u009b2Jb", "a?2Jb"},
		{"invalid UTF-8", "a\xffb", "a?b"},
		{"long", strings.Repeat("x", 250), strings.Repeat("x", 200) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusalReason(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTableUnmeasuredWithReason(t *testing.T) {
	refused := &Series{Name: "user start", Unmeasured: "FATAL: refused"}
	root := &Series{Name: "root start", Values: []float64{0.5, 0.7, 0.6}}
	out, err := Table([]Row{{Case: refused, Peer: root}, {Case: root}, {Case: root, Peer: refused}})
	if err != nil {
		t.Fatalf("a row unmeasured with a reason must not fail the table: %v", err)
	}
	for _, want := range []string{
		"| user start | 0 | - | - | - | root start | 600.0 ms | - | reported | not measured: FATAL: refused |",
		"| root start | 3 | 600.0 ms | 500.0 ms | 700.0 ms | - | - | - | reported | - |",
		"| root start | 0 | - | - | - | user start | - | - | reported | not measured: peer: FATAL: refused |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Control: the same row without a reason and without values fails.
	if _, err := Table([]Row{{Case: &Series{Name: "user start"}, Peer: root}}); err == nil {
		t.Error("an empty series without a reason did not fail the table")
	}
}

func TestSelectRowsRootless(t *testing.T) {
	series := map[string]*Series{}
	for _, n := range []string{caseUserExecSIF, caseRootExecSIF, caseUserStart, caseRootUsernsStart} {
		series[n] = &Series{Name: n}
	}
	var got []string
	for _, r := range selectRows(rowSpecs, series) {
		peer := ""
		if r.Peer != nil {
			peer = r.Peer.Name
		}
		got = append(got, r.Case.Name+" vs "+peer)
	}
	want := []string{
		caseUserExecSIF + " vs " + caseRootExecSIF, caseRootExecSIF + " vs ",
		caseUserStart + " vs " + caseRootUsernsStart, caseRootUsernsStart + " vs ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRecord(t *testing.T) {
	tests := []struct {
		name      string
		round     int
		first     bool
		refused   string
		wantErr   bool
		wantVals  int
		wantUnmea string
	}{
		{"warm-up worked: not counted", -1, true, "", false, 0, ""},
		{"counted round", 0, false, "", false, 1, ""},
		{"refused at the first attempt: unmeasured", -1, true, "FATAL: no", false, 0, "FATAL: no"},
		{"refused later: failure", 1, false, "FATAL: no", true, 0, ""},
		{"refused in a later warm-up: failure", -1, false, "FATAL: no", true, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Series{Name: "c"}
			err := record(s, tt.round, tt.first, 42*time.Millisecond, tt.refused)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(s.Values) != tt.wantVals || s.Unmeasured != tt.wantUnmea {
				t.Errorf("values %v unmeasured %q, want %d values, %q", s.Values, s.Unmeasured, tt.wantVals, tt.wantUnmea)
			}
		})
	}
}
