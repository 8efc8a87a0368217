package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Comparison says how a row's median is judged against its target.
type Comparison int

const (
	// Reported rows have no target.
	Reported Comparison = iota
	// RatioAtMost: median / peer median must be <= Target.
	RatioAtMost
	// RatioAtLeast: median / peer median must be >= Target.
	RatioAtLeast
	// ValueAtMost: the median itself must be <= Target (in the series' unit).
	ValueAtMost
)

// Row is one line of the result table: a case, optionally its peer from
// the same run, and the target of issue 7.
type Row struct {
	Case   *Series
	Peer   *Series // nil when the row has no peer
	Cmp    Comparison
	Target float64
}

// Verdict is a row reduced to what the table shows.
type Verdict struct {
	Case, Peer   Summary
	Ratio        float64 // 0 without a peer
	Met, Judged  bool
	TargetString string
}

// Judge computes a row's ratio and whether its target is met. It fails
// only when a series has no usable measurement.
func Judge(r Row) (Verdict, error) {
	var v Verdict
	var err error
	if v.Case, err = Summarize(r.Case.Values); err != nil {
		return v, fmt.Errorf("%s: %w", r.Case.Name, err)
	}
	if r.Peer != nil {
		if v.Peer, err = Summarize(r.Peer.Values); err != nil {
			return v, fmt.Errorf("%s: %w", r.Peer.Name, err)
		}
		if v.Peer.Median > 0 {
			v.Ratio = v.Case.Median / v.Peer.Median
		}
	}
	v.TargetString = targetString(r)
	switch r.Cmp {
	case RatioAtMost:
		v.Judged, v.Met = v.Ratio > 0, v.Ratio > 0 && v.Ratio <= r.Target
	case RatioAtLeast:
		v.Judged, v.Met = v.Ratio > 0, v.Ratio >= r.Target
	case ValueAtMost:
		v.Judged, v.Met = true, v.Case.Median <= r.Target
	}
	return v, nil
}

// targetString is the target column of a row.
func targetString(r Row) string {
	switch r.Cmp {
	case RatioAtMost:
		return fmt.Sprintf("<= %.2fx", r.Target)
	case RatioAtLeast:
		return fmt.Sprintf(">= %.2fx", r.Target)
	case ValueAtMost:
		return "<= " + r.Case.Unit.Format(r.Target)
	default:
		return "reported"
	}
}

// unmeasured returns why a row's case, or its peer, was not measured,
// or "" when both were.
func unmeasured(r Row) string {
	if r.Case.Unmeasured != "" {
		return r.Case.Unmeasured
	}
	if r.Peer != nil && r.Peer.Unmeasured != "" {
		return "peer: " + r.Peer.Unmeasured
	}
	return ""
}

// refusalReason reduces a refused command's standard error to what a table
// cell can hold: its first non-empty line, with control characters (the
// terminal escapes a hostile image could put into a message) and the
// table's column separator made harmless, and cut to a readable length.
func refusalReason(stderr string) string {
	const maxRunes = 200
	line := ""
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			line = l
			break
		}
	}
	if line == "" {
		return "no message"
	}
	var b strings.Builder
	n := 0
	for _, c := range line {
		if n == maxRunes {
			b.WriteString("…")
			break
		}
		switch {
		case c == '|':
			b.WriteString(`\|`)
		case c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == utf8.RuneError:
			b.WriteRune('?')
		default:
			b.WriteRune(c)
		}
		n++
	}
	return b.String()
}

// Table renders rows as a Markdown table, so the same text goes to the
// terminal and into docs/performance.md. Rows that cannot be judged are
// listed with the reason instead of numbers.
func Table(rows []Row) (string, error) {
	var b strings.Builder
	b.WriteString("| case | n | median | min | max | peer (same run) | peer median | ratio | target | met |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	var errs []string
	for _, r := range rows {
		if why := unmeasured(r); why != "" {
			// The peer's median, when it has one, still tells what the
			// case will be compared with.
			peer, peerMed := "-", "-"
			if r.Peer != nil {
				peer = r.Peer.Name
				if p, err := Summarize(r.Peer.Values); err == nil {
					peerMed = r.Peer.Unit.Format(p.Median)
				}
			}
			fmt.Fprintf(&b, "| %s | 0 | - | - | - | %s | %s | - | %s | not measured: %s |\n", r.Case.Name, peer, peerMed, targetString(r), why)
			continue
		}
		v, err := Judge(r)
		if err != nil {
			errs = append(errs, err.Error())
			fmt.Fprintf(&b, "| %s | 0 | - | - | - | - | - | - | - | not measured |\n", r.Case.Name)
			continue
		}
		u := r.Case.Unit
		peer, peerMed, ratio := "-", "-", "-"
		if r.Peer != nil {
			peer, peerMed = r.Peer.Name, r.Peer.Unit.Format(v.Peer.Median)
			if v.Ratio > 0 {
				ratio = fmt.Sprintf("%.2fx", v.Ratio)
			}
		}
		met := "-"
		if v.Judged {
			met = map[bool]string{true: "yes", false: "NO"}[v.Met]
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Case.Name, v.Case.N, u.Format(v.Case.Median), u.Format(v.Case.Min), u.Format(v.Case.Max),
			peer, peerMed, ratio, v.TargetString, met)
	}
	if len(errs) > 0 {
		return b.String(), fmt.Errorf("not measured: %s", strings.Join(errs, "; "))
	}
	return b.String(), nil
}
