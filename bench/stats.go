package main

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Unit says how a series' values are measured and printed.
type Unit int

const (
	// Seconds: durations, printed in ms or s.
	Seconds Unit = iota
	// Bytes: memory, printed in MiB.
	Bytes
	// BitsPerSecond: throughput, printed in Gbit/s.
	BitsPerSecond
)

// Series is every measurement of one case in one run.
type Series struct {
	Name   string
	Unit   Unit
	Values []float64
	// Unmeasured says why the case could not be measured in this build
	// (a command it times is refused): the row shows the reason instead
	// of numbers and the run does not fail for it.
	Unmeasured string
}

// Add appends one measurement.
func (s *Series) Add(v float64) { s.Values = append(s.Values, v) }

// AddDuration appends one duration as seconds.
func (s *Series) AddDuration(d time.Duration) { s.Add(d.Seconds()) }

// Summary is what the table prints of a series.
type Summary struct {
	N                int
	Median, Min, Max float64
}

// Summarize reduces values to their median and range. The median of an
// even count is the mean of the two middle values, so it is stable under
// reordering of the measurements.
func Summarize(values []float64) (Summary, error) {
	if len(values) == 0 {
		return Summary{}, fmt.Errorf("no measurements")
	}
	v := append([]float64(nil), values...)
	sort.Float64s(v)
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Summary{}, fmt.Errorf("invalid measurement %v", x)
		}
	}
	n := len(v)
	med := v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return Summary{N: n, Median: med, Min: v[0], Max: v[n-1]}, nil
}

// Format prints v in the unit's customary scale.
func (u Unit) Format(v float64) string {
	switch u {
	case Bytes:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case BitsPerSecond:
		return fmt.Sprintf("%.2f Gbit/s", v/1e9)
	default:
		if v < 1 {
			return fmt.Sprintf("%.1f ms", v*1e3)
		}
		return fmt.Sprintf("%.3f s", v)
	}
}
