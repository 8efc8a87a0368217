package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Plot geometry, in SVG user units.
const (
	plotLeft   = 260.0 // room for the lane labels
	plotWidth  = 600.0
	laneHeight = 44.0
	plotTop    = 40.0
	plotBottom = 40.0 // room for the axis labels
)

// StripPlotSVG draws one lane per series: every measurement is a dot and
// the median a vertical bar, on a shared linear axis in milliseconds that
// starts at zero so lanes compare by eye. A plot library would be a new
// dependency for forty lines of text.
func StripPlotSVG(title string, series []*Series) (string, error) {
	maxV := 0.0
	for _, s := range series {
		if len(s.Values) == 0 {
			return "", fmt.Errorf("series %q has no measurements", s.Name)
		}
		for _, v := range s.Values {
			maxV = math.Max(maxV, v)
		}
	}
	if maxV <= 0 {
		return "", fmt.Errorf("nothing to plot")
	}
	step := niceStep(maxV * 1e3 / 5)
	axisMax := math.Ceil(maxV*1e3/step) * step // ms
	x := func(sec float64) float64 { return plotLeft + sec*1e3/axisMax*plotWidth }
	height := plotTop + float64(len(series))*laneHeight + plotBottom
	width := plotLeft + plotWidth + 40

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", plotLeft, html.EscapeString(title))
	axisY := plotTop + float64(len(series))*laneHeight
	for t := 0.0; t <= axisMax+step/2; t += step {
		px := x(t / 1e3)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px, plotTop, px, axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", px, axisY+16, t)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">start → READY (ms)</text>`+"\n", plotLeft+plotWidth/2, axisY+34)
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}
	for i, s := range series {
		sum, _ := Summarize(s.Values)
		mid := plotTop + float64(i)*laneHeight + laneHeight/2
		c := colors[i%len(colors)]
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s (n=%d)</text>`+"\n", plotLeft-10, mid+4, html.EscapeString(s.Name), sum.N)
		for j, v := range s.Values {
			// A fixed jitter pattern keeps overlapping dots visible and the
			// output reproducible for the same numbers.
			dy := float64(j%5-2) * 4
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s" fill-opacity="0.6"/>`+"\n", x(v), mid+dy, c)
		}
		mx := x(sum.Median)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="2"><title>median %s</title></line>`+"\n",
			mx, mid-14, mx, mid+14, html.EscapeString(Seconds.Format(sum.Median)))
	}
	b.WriteString("</svg>\n")
	return b.String(), nil
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten, for axis ticks.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}
