package main

import (
	"fmt"
	"strings"
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
	switch r.Cmp {
	case RatioAtMost:
		v.Judged, v.Met = v.Ratio > 0, v.Ratio > 0 && v.Ratio <= r.Target
		v.TargetString = fmt.Sprintf("<= %.2fx", r.Target)
	case RatioAtLeast:
		v.Judged, v.Met = v.Ratio > 0, v.Ratio >= r.Target
		v.TargetString = fmt.Sprintf(">= %.2fx", r.Target)
	case ValueAtMost:
		v.Judged, v.Met = true, v.Case.Median <= r.Target
		v.TargetString = "<= " + r.Case.Unit.Format(r.Target)
	default:
		v.TargetString = "reported"
	}
	return v, nil
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
