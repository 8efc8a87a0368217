package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// monitorPrefix is how an instance monitor names itself in ps, upstream's
// format; the instance name follows in brackets.
const monitorPrefix = "Apptainer instance: root ["

// parseVmRSS returns the resident set size, in bytes, from the text of
// /proc/PID/status.
func parseVmRSS(status string) (float64, error) { return parseKB(status, "VmRSS") }

// parseKB returns field ("VmRSS", "Pss" …) of a /proc file of
// "Name:   N kB" lines, in bytes.
func parseKB(text, field string) (float64, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == field+":" && f[2] == "kB" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, fmt.Errorf("failed to parse %s %q: %w", field, f[1], err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s line", field)
}

// pssOf reads the proportional set size and the anonymous memory of pid.
func pssOf(pid int) (pss, anon float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("failed to read smaps_rollup of %d: %w", pid, err)
	}
	if pss, err = parseKB(string(b), "Pss"); err != nil {
		return 0, 0, err
	}
	anon, err = parseKB(string(b), "Anonymous")
	return pss, anon, err
}

// monitorName returns the instance name from a monitor's cmdline, or ""
// when the process is not a monitor.
func monitorName(cmdline string) string {
	cmdline = strings.TrimRight(cmdline, "\x00")
	if !strings.HasPrefix(cmdline, monitorPrefix) {
		return ""
	}
	rest := cmdline[len(monitorPrefix):]
	end := strings.IndexByte(rest, ']')
	if end <= 0 {
		return ""
	}
	return rest[:end]
}

// monitors maps instance name to monitor PID for every monitor running.
func monitors() map[string]int {
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if n := monitorName(string(b)); n != "" {
			out[n] = pid
		}
	}
	return out
}

// rssOf reads the resident set size of pid.
func rssOf(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("failed to read status of %d: %w", pid, err)
	}
	return parseVmRSS(string(b))
}

// execEvent is one execve seen by strace.
type execEvent struct {
	PID  int
	At   time.Time
	Path string
}

// parseStraceExecs reads `strace -f -ttt -e trace=execve -o FILE` output
// and returns the execve calls that succeeded, in order. A call split by
// another process's line (<unfinished ...> ... <... execve resumed>)
// keeps the time it was entered, which is when the caller asked for it.
func parseStraceExecs(text string) ([]execEvent, error) {
	var events []execEvent
	pending := map[int]execEvent{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// strace pads the PID column with spaces: "5989  1795.021238 execve(".
		pidField, line, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		tsField, rest, _ := strings.Cut(strings.TrimLeft(line, " "), " ")
		pid, err1 := strconv.Atoi(pidField)
		ts, err2 := strconv.ParseFloat(tsField, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		at := time.Unix(0, int64(ts*1e9))
		switch {
		case strings.HasPrefix(rest, `execve("`):
			path := rest[len(`execve("`):]
			path = path[:max(strings.IndexByte(path, '"'), 0)]
			ev := execEvent{PID: pid, At: at, Path: path}
			if strings.HasSuffix(rest, "<unfinished ...>") {
				pending[pid] = ev
			} else if strings.Contains(rest, ") = 0") {
				events = append(events, ev)
			}
		case strings.HasPrefix(rest, "<... execve resumed>"):
			if ev, ok := pending[pid]; ok {
				delete(pending, pid)
				if strings.Contains(rest, ") = 0") {
					events = append(events, ev)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to read strace output: %w", err)
	}
	return events, nil
}

// runtimeSpan is the time from the first execve (the CLI) to the first
// successful execve of init.
func runtimeSpan(events []execEvent, init string) (time.Duration, error) {
	if len(events) == 0 {
		return 0, fmt.Errorf("strace saw no execve")
	}
	for _, e := range events[1:] {
		if e.Path == init {
			return e.At.Sub(events[0].At), nil
		}
	}
	return 0, fmt.Errorf("strace saw no execve of %s", init)
}
