package explorer

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strings"
)

// bar is one bar of a chart.
type bar struct {
	Value float64
	Label string // under the axis (shown for the first, middle and last bar)
	Title string // tooltip
	Href  string // link, if any (a path built from checked values)
}

// Chart geometry, in the SVG's own units; the SVG scales to its box.
const (
	chartW    = 400
	chartH    = 190
	chartLeft = 44
	chartBot  = 24
	chartTop  = 10
)

// barChart draws bars left to right as inline SVG. Every text is escaped
// here, so the result is safe to put in a page as is. A positive limit
// caps the scale: taller bars are drawn to the top and marked clipped, so
// one outlier does not flatten the rest.
func barChart(title string, bars []bar, limit float64) template.HTML {
	if len(bars) == 0 {
		return ""
	}
	top := 0.0
	for _, b := range bars {
		top = math.Max(top, b.Value)
	}
	if limit > 0 {
		top = math.Min(top, limit)
	}
	if top <= 0 {
		top = 1
	}
	top = niceCeil(top)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<figure class="chart"><figcaption>%s</figcaption><svg viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		html.EscapeString(title), chartW, chartH, html.EscapeString(title))
	plotH := float64(chartH - chartBot - chartTop)
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(chartTop) + plotH*(1-f)
		fmt.Fprintf(&sb, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/><text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`,
			chartLeft, y, chartW, y, chartLeft-4, y+4, html.EscapeString(compact(top*f)))
	}
	step := float64(chartW-chartLeft) / float64(len(bars))
	w := math.Max(step*0.8, 1)
	for i, b := range bars {
		h := plotH * math.Min(math.Max(b.Value, 0)/top, 1)
		x := float64(chartLeft) + step*float64(i) + (step-w)/2
		y := float64(chartTop) + plotH - h
		class := "bar"
		if b.Value > top {
			class = "bar clipped"
		}
		rect := fmt.Sprintf(`<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
			class, x, y, w, math.Max(h, 0.5), html.EscapeString(b.Title))
		if b.Href != "" {
			fmt.Fprintf(&sb, `<a href="%s">%s</a>`, html.EscapeString(b.Href), rect)
		} else {
			sb.WriteString(rect)
		}
		if len(bars) <= 10 || i == 0 || i == len(bars)-1 || i == len(bars)/2 {
			anchor := "middle"
			if len(bars) > 10 && i == len(bars)-1 {
				anchor = "end"
			}
			fmt.Fprintf(&sb, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x+w/2, chartH-6, anchor, html.EscapeString(b.Label))
		}
	}
	sb.WriteString(`</svg></figure>`)
	return template.HTML(sb.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// compact formats an axis value: 950, 1.5k, 2M.
func compact(v float64) string {
	switch {
	case v >= 1e9:
		return trimFloat(v/1e9) + "G"
	case v >= 1e6:
		return trimFloat(v/1e6) + "M"
	case v >= 1e3:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

// intervalChart draws the seconds between consecutive blocks, oldest on
// the left; rows are newest first, each with its interval.
func intervalChart(rows []blockRow) template.HTML {
	bars := make([]bar, 0, len(rows))
	values := make([]float64, 0, len(rows))
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		bars = append(bars, bar{Value: float64(r.Interval), Label: fmt.Sprint(r.Height),
			Title: fmt.Sprintf("block %d: %d s after its parent", r.Height, r.Interval), Href: "/block/" + r.Hash.String()})
		values = append(values, float64(r.Interval))
	}
	// Scale to four times the median interval (at least 10 s), so that a
	// long pause does not flatten every other bar.
	slices.Sort(values)
	return barChart("Seconds between blocks", bars, math.Max(4*values[len(values)/2], 10))
}

// txChart draws the transactions per block, oldest on the left.
func txChart(rows []blockRow) template.HTML {
	bars := make([]bar, 0, len(rows))
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		bars = append(bars, bar{Value: float64(r.NTx), Label: fmt.Sprint(r.Height),
			Title: fmt.Sprintf("block %d: %d transactions", r.Height, r.NTx), Href: "/block/" + r.Hash.String()})
	}
	return barChart("Transactions per block", bars, 0)
}

// feeBuckets are the lower bounds of the fee-rate histogram's buckets, in
// base units per byte.
var feeBuckets = []float64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500}

// feeHistogram draws the bytes of pool transactions per fee-rate bucket.
func feeHistogram(rows []poolRow) template.HTML {
	bytes := make([]float64, len(feeBuckets))
	counts := make([]int, len(feeBuckets))
	for _, r := range rows {
		i := len(feeBuckets) - 1
		for i > 0 && r.FeeRate < feeBuckets[i] {
			i--
		}
		bytes[i] += float64(r.Size)
		counts[i]++
	}
	bars := make([]bar, len(feeBuckets))
	for i, lo := range feeBuckets {
		span := trimFloat(lo) + " or more"
		if i+1 < len(feeBuckets) {
			span = trimFloat(lo) + " to " + trimFloat(feeBuckets[i+1])
		}
		bars[i] = bar{Value: bytes[i], Label: "≥" + trimFloat(lo),
			Title: fmt.Sprintf("%s base units/byte: %d transactions, %.0f bytes", span, counts[i], bytes[i])}
	}
	return barChart("Mempool bytes by fee rate (base units per byte)", bars, 0)
}
