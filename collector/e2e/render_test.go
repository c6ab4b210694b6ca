package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// panelData is one panel of the dashboard with its query results.
type panelData struct {
	Title  string
	Unit   string // Grafana unit id of the panel: "s", "short", "currencyUSD", "percentunit", "none"; formats the Y axis
	Series []seriesData
}

// seriesData is one series of a panel: a legend and its samples.
type seriesData struct {
	Name   string
	Times  []time.Time
	Values []float64 // NaN where there is no sample
}

// The look of a rendered dashboard. Lengths are in pixels of the PNG;
// px converts them into the canvas's points.
const (
	renderDPI = 96

	minColumnWidth = 240 // pixels a column needs at least
	panelAspect    = 0.55

	titleBand  = 48 // height of the dashboard's title above the grid
	margin     = 12 // around the grid
	gap        = 10 // between panels
	inner      = 10 // between a panel's frame and what is in it
	panelTitle = 28 // height of a panel's title band

	dashboardTitleSize = 22
	timeRangeSize      = 13
	panelTitleSize     = 15
	tickSize           = 12
	legendSize         = 12
	noDataSize         = 16

	lineWidth     = 1.5
	legendSwatch  = 16 // width of a legend entry's line
	legendSpacing = 18 // between legend entries on one line
	legendLineH   = 18 // height of a line of the legend

	maxLegendEntries = 8
	maxLegendRunes   = 40
	legendShare      = 0.3 // of the height under a panel's title the legend may take
)

// Colours of the dashboard: a light theme.
var (
	backgroundColor = color.RGBA{R: 0xf4, G: 0xf5, B: 0xf5, A: 0xff}
	panelColor      = color.White
	borderColor     = color.RGBA{R: 0xd8, G: 0xd9, B: 0xdc, A: 0xff}
	textColor       = color.RGBA{R: 0x24, G: 0x29, B: 0x2e, A: 0xff}
	mutedColor      = color.RGBA{R: 0x6e, G: 0x72, B: 0x78, A: 0xff}
	gridColor       = color.RGBA{R: 0xe4, G: 0xe6, B: 0xe9, A: 0xff}
	axisColor       = color.RGBA{R: 0xb8, G: 0xbb, B: 0xc0, A: 0xff}
)

// seriesColors is the palette series take their colours from, in order: a
// panel's first series is green, its second yellow, and so on, starting
// over after the last one.
var seriesColors = []color.Color{
	color.RGBA{R: 0x56, G: 0xa6, B: 0x4b, A: 0xff}, // green
	color.RGBA{R: 0xe0, G: 0xa5, B: 0x00, A: 0xff}, // yellow
	color.RGBA{R: 0x32, G: 0x74, B: 0xd9, A: 0xff}, // blue
	color.RGBA{R: 0xe0, G: 0x2f, B: 0x44, A: 0xff}, // red
	color.RGBA{R: 0xa3, G: 0x52, B: 0xcc, A: 0xff}, // purple
	color.RGBA{R: 0xff, G: 0x78, B: 0x0a, A: 0xff}, // orange
	color.RGBA{R: 0x17, G: 0xa2, B: 0xb8, A: 0xff}, // teal
	color.RGBA{R: 0x8a, G: 0x6d, B: 0x3b, A: 0xff}, // brown
	color.RGBA{R: 0xd6, G: 0x4e, B: 0x9e, A: 0xff}, // pink
	color.RGBA{R: 0x5a, G: 0x60, B: 0x6b, A: 0xff}, // grey
}

// px returns the length of n pixels of the PNG.
func px(n float64) vg.Length {
	return vg.Length(n) * vg.Inch / renderDPI
}

// sans returns the style of text in the sans-serif font that plot embeds,
// size pixels tall.
func sans(size float64, bold bool, c color.Color) text.Style {
	f := font.Font{Typeface: "Liberation", Variant: "Sans"}
	if bold {
		f.Weight = xfont.WeightBold
	}
	return text.Style{
		Color:   c,
		Font:    font.From(f, px(size)),
		Handler: plot.DefaultTextHandler,
	}
}

// renderDashboard draws panels in a grid of cols columns under title, as a
// PNG at path, width px wide: each panel is about width/cols wide and 0.55
// as tall, and the image as tall as the grid's rows need. The panels share
// the X axis, the time range of all their samples, marked with clock times
// in the location of the first sample's time. A panel's Y axis starts at
// zero, or below it for negative values, and is formatted after its Unit
// (an unknown unit is taken as "short"). NaN and infinite samples leave
// gaps in their lines; a panel without a finite sample shows "No data".
// The same arguments make the same bytes. The file is written to a
// temporary file beside path, then renamed.
func renderDashboard(path, title string, panels []panelData, cols, width int) error {
	img, err := drawDashboard(title, panels, cols, width)
	if err != nil {
		return fmt.Errorf("render dashboard: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("render dashboard: encode PNG: %w", err)
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("render dashboard: %w", err)
	}
	return nil
}

// writeFileAtomic writes b to a temporary file in path's directory and
// renames it path, so that no one reads a file half written.
func writeFileAtomic(path string, b []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// drawDashboard returns the image of the dashboard renderDashboard writes.
func drawDashboard(title string, panels []panelData, cols, width int) (image.Image, error) {
	switch {
	case len(panels) == 0:
		return nil, errors.New("no panels")
	case cols < 1:
		return nil, fmt.Errorf("%d columns, want at least 1", cols)
	case width < cols*minColumnWidth:
		return nil, fmt.Errorf("%d px is too narrow for %d columns of at least %d px", width, cols, minColumnWidth)
	}
	for _, p := range panels {
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("panel %q: %w", p.Title, err)
		}
	}

	rows := (len(panels) + cols - 1) / cols
	cellW := (float64(width) - 2*margin - float64(cols-1)*gap) / float64(cols)
	cellH := math.Round(panelAspect * cellW)
	height := int(titleBand + float64(rows)*cellH + float64(rows-1)*gap + margin)

	// The canvas draws on a copy of the image it is given.
	canvas := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, width, height))), vgimg.UseDPI(renderDPI))
	dc := draw.New(canvas)
	dc.SetColor(backgroundColor)
	dc.Fill(dc.Rectangle.Path())

	tr := timeRangeOf(panels)
	drawTitle(dc, title, tr)

	body := dc
	body.Max.Y -= px(titleBand)
	tiles := draw.Tiles{
		Rows: rows, Cols: cols,
		PadLeft: px(margin), PadRight: px(margin), PadBottom: px(margin),
		PadX: px(gap), PadY: px(gap),
	}
	for row := range rows {
		// The panels of a row share the height of their legends, so that
		// their X axes line up.
		first, last := row*cols, min((row+1)*cols, len(panels))
		legends := make([]legend, last-first)
		lines := 0
		for i := range legends {
			size := tiles.At(body, i, row).Size()
			maxLines := max(1, int((size.Y-px(2*inner+panelTitle))*legendShare/px(legendLineH)))
			legends[i] = newLegend(panels[first+i], size.X-px(2*inner), maxLines)
			lines = max(lines, legends[i].lines())
		}
		for i, l := range legends {
			if err := drawPanel(tiles.At(body, i, row), panels[first+i], l, lines, tr); err != nil {
				return nil, fmt.Errorf("panel %q: %w", panels[first+i].Title, err)
			}
		}
	}
	return canvas.Image(), nil
}

// validate reports whether each series of p has as many values as times.
func (p panelData) validate() error {
	for _, s := range p.Series {
		if len(s.Times) != len(s.Values) {
			return fmt.Errorf("series %q: %d times but %d values", s.Name, len(s.Times), len(s.Values))
		}
	}
	return nil
}

// timeRange is the time span the panels share, in the location their
// clock times are shown in.
type timeRange struct {
	from, to time.Time
	empty    bool // no panel has a sample time
}

// timeRangeOf returns the span of the sample times of all panels, NaN
// samples included: the range the dashboard was queried for.
func timeRangeOf(panels []panelData) timeRange {
	tr := timeRange{empty: true}
	for _, p := range panels {
		for _, s := range p.Series {
			for _, t := range s.Times {
				if tr.empty {
					tr = timeRange{from: t, to: t}
					continue
				}
				if t.Before(tr.from) {
					tr.from = t
				}
				if t.After(tr.to) {
					tr.to = t
				}
			}
		}
	}
	if !tr.empty {
		loc := firstLocation(panels)
		tr.from, tr.to = tr.from.In(loc), tr.to.In(loc)
	}
	return tr
}

// firstLocation returns the location of the first sample time of panels.
func firstLocation(panels []panelData) *time.Location {
	for _, p := range panels {
		for _, s := range p.Series {
			if len(s.Times) > 0 {
				return s.Times[0].Location()
			}
		}
	}
	return time.UTC
}

// drawTitle draws the dashboard's title in the band at the top of dc, and
// the time range it shows at the right.
func drawTitle(dc draw.Canvas, title string, tr timeRange) {
	y := dc.Max.Y - px(titleBand)/2
	titleW := dc.Size().X - px(2*margin)
	if !tr.empty {
		const day = "2006-01-02 "
		to := tr.to.Format("15:04:05 MST")
		if tr.to.Format(day) != tr.from.Format(day) {
			to = tr.to.Format(day + "15:04:05 MST")
		}
		span := tr.from.Format(day+"15:04:05") + " to " + to
		sty := sans(timeRangeSize, false, mutedColor)
		sty.XAlign, sty.YAlign = draw.XRight, draw.YCenter
		dc.FillText(sty, vg.Point{X: dc.Max.X - px(margin), Y: y}, span)
		titleW -= sty.Width(span) + px(2*gap)
	}
	sty := sans(dashboardTitleSize, true, textColor)
	sty.YAlign = draw.YCenter
	dc.FillText(sty, vg.Point{X: dc.Min.X + px(margin), Y: y}, fitText(sty, title, titleW))
}

// drawPanel draws p in the frame c: its title at the top, its legend at the
// bottom, legendLines tall, and its plot between them.
func drawPanel(c draw.Canvas, p panelData, l legend, legendLines int, tr timeRange) error {
	c.SetColor(panelColor)
	c.Fill(c.Rectangle.Path())
	c.SetLineStyle(draw.LineStyle{Color: borderColor, Width: px(1)})
	c.Stroke(c.Rectangle.Path())

	content := draw.Crop(c, px(inner), -px(inner), px(inner), -px(inner))
	sty := sans(panelTitleSize, true, textColor)
	sty.YAlign = draw.YCenter
	titleY := c.Max.Y - px(panelTitle)/2 - px(2)
	content.FillText(sty, vg.Point{X: content.Min.X, Y: titleY}, fitText(sty, p.Title, content.Size().X))

	area := content
	area.Max.Y = c.Max.Y - px(panelTitle+8) // room for the top tick label
	if !hasData(p) {
		sty := sans(noDataSize, false, mutedColor)
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
		area.FillText(sty, area.Center(), "No data")
		return nil
	}

	if legendLines > 0 {
		band := area
		band.Max.Y = band.Min.Y + px(float64(legendLines)*legendLineH)
		l.draw(band)
		area.Min.Y = band.Max.Y + px(6)
	}
	pl, err := newPlot(p, tr, area.Size())
	if err != nil {
		return err
	}
	pl.Draw(area)
	return nil
}

// hasData reports whether p has a finite sample.
func hasData(p panelData) bool {
	return slices.ContainsFunc(p.Series, func(s seriesData) bool { return slices.ContainsFunc(s.Values, isFinite) })
}

// isFinite reports whether v is neither NaN nor infinite.
func isFinite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}

// newPlot returns the plot of p's series over tr, to be drawn size large.
func newPlot(p panelData, tr timeRange, size vg.Point) (*plot.Plot, error) {
	pl := plot.New()
	pl.BackgroundColor = nil
	grid := plotter.NewGrid()
	grid.Vertical = draw.LineStyle{Color: gridColor, Width: px(1)}
	grid.Horizontal = grid.Vertical
	pl.Add(grid)

	lo, hi := 0.0, 0.0
	for i, s := range p.Series {
		col := seriesColors[i%len(seriesColors)]
		for _, seg := range segments(s) {
			segLo, segHi := plotter.Range(plotter.YValues{XYer: seg})
			lo, hi = min(lo, segLo), max(hi, segHi)
			if len(seg) == 1 {
				// A sample between gaps: a dot, as a line of one point
				// draws nothing.
				sc, err := plotter.NewScatter(seg)
				if err != nil {
					return nil, fmt.Errorf("series %q: %w", s.Name, err)
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: px(2), Shape: draw.CircleGlyph{}}
				pl.Add(sc)
				continue
			}
			ln, err := plotter.NewLine(seg)
			if err != nil {
				return nil, fmt.Errorf("series %q: %w", s.Name, err)
			}
			ln.LineStyle = draw.LineStyle{Color: col, Width: px(lineWidth)}
			pl.Add(ln)
		}
	}

	ticks := sans(tickSize, false, mutedColor)
	hidden := draw.LineStyle{Color: color.Transparent}

	pl.X.Min, pl.X.Max = unixSeconds(tr.from), unixSeconds(tr.to)
	if pl.X.Min == pl.X.Max { // a single sample time
		pl.X.Min, pl.X.Max = pl.X.Min-30, pl.X.Max+30
	}
	labelW := ticks.Width("00:00:00") + px(16)
	pl.X.Tick.Marker = timeTicks{loc: tr.from.Location(), max: max(2, int((size.X-px(40))/labelW))}
	pl.X.Tick.Label = ticks
	pl.X.Tick.Label.XAlign, pl.X.Tick.Label.YAlign = draw.XCenter, draw.YTop
	pl.X.Tick.Length = 0
	pl.X.Tick.LineStyle = hidden
	pl.X.LineStyle = draw.LineStyle{Color: axisColor, Width: px(1)}
	pl.X.Padding = px(4)

	if lo == hi {
		hi = 1
	}
	step := niceStep(lo, hi, max(2, min(8, int((size.Y-px(30))/px(40)))))
	pl.Y.Min, pl.Y.Max = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	pl.Y.Tick.Marker = valueTicks{unit: p.Unit, step: step}
	pl.Y.Tick.Label = ticks
	pl.Y.Tick.Label.XAlign, pl.Y.Tick.Label.YAlign = draw.XRight, draw.YCenter
	pl.Y.Tick.Length = 0
	pl.Y.Tick.LineStyle = hidden
	pl.Y.LineStyle = hidden
	pl.Y.Padding = 0
	pl.Y.Label.TextStyle = ticks // the gap between tick labels and data is a space of it
	return pl, nil
}

// segments splits the samples of s, in time order, at its NaN and
// infinite values, into runs of finite samples.
func segments(s seriesData) []plotter.XYs {
	order := make([]int, len(s.Times))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return s.Times[i].Compare(s.Times[j]) })
	var segs []plotter.XYs
	var cur plotter.XYs
	for _, i := range order {
		t, v := s.Times[i], s.Values[i]
		if !isFinite(v) {
			if len(cur) > 0 {
				segs = append(segs, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: unixSeconds(t), Y: v})
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	return segs
}

// unixSeconds returns t as seconds since the Unix epoch, the X coordinate
// of plots.
func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// timeTicks marks a time axis, in Unix seconds, at round clock times in
// loc: at most max of them, as far apart as one of clockSteps.
type timeTicks struct {
	loc *time.Location
	max int
}

// clockSteps are the intervals between the ticks of a time axis.
var clockSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// Ticks returns the ticks between lo and hi, labelled HH:MM:SS, or with the
// date too when they are a day or more apart.
func (tt timeTicks) Ticks(lo, hi float64) []plot.Tick {
	span := time.Duration((hi - lo) * 1e9)
	step := clockSteps[len(clockSteps)-1]
	for _, s := range clockSteps {
		if int(span/s)+1 <= tt.max {
			step = s
			break
		}
	}
	for int(span/step)+1 > tt.max { // more than days: whole days apart
		step += 24 * time.Hour
	}
	layout := "15:04:05"
	if step >= 24*time.Hour {
		layout = "01-02 15:04"
	}

	// Labels are centred on their ticks: those at the ends would stick out
	// of the plot, which would shrink it to make room.
	edge := (hi - lo) / float64(tt.max) / 2
	from := time.Unix(0, int64((lo+edge)*1e9)).In(tt.loc)
	midnight := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, tt.loc)
	n := (from.Sub(midnight) + step - 1) / step
	var ticks []plot.Tick
	for t := midnight.Add(n * step); unixSeconds(t) <= hi-edge; t = t.Add(step) {
		ticks = append(ticks, plot.Tick{Value: unixSeconds(t), Label: t.Format(layout)})
	}
	return ticks
}

// niceStep returns the interval between at most n+1 ticks that cover lo
// to hi: 1, 2, 2.5 or 5 times a power of ten.
func niceStep(lo, hi float64, n int) float64 {
	base := math.Pow(10, math.Floor(math.Log10((hi-lo)/float64(n))))
	for {
		for _, m := range []float64{1, 2, 2.5, 5} {
			step := m * base
			if math.Ceil(hi/step-1e-9)-math.Floor(lo/step+1e-9) <= float64(n) {
				return step
			}
		}
		base *= 10
	}
}

// valueTicks marks a value axis every step, labelled after unit.
type valueTicks struct {
	unit string
	step float64
}

// Ticks returns the multiples of step between lo and hi.
func (vt valueTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for i := math.Ceil(lo/vt.step - 1e-9); i*vt.step <= hi+vt.step*1e-9; i++ {
		v := i * vt.step
		ticks = append(ticks, plot.Tick{Value: v, Label: formatValue(vt.unit, v, vt.step)})
	}
	return ticks
}

// formatValue formats v, a tick of an axis with ticks step apart, after the
// Grafana unit: "s" as "250ms" or "1.5s", "currencyUSD" as "$0.012",
// "percentunit" as "25%", "none" as a plain number, and "short", or any
// other unit, as a number scaled to k, M, B or T.
func formatValue(unit string, v, step float64) string {
	if v == 0 {
		v = 0 // not -0
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	switch unit {
	case "s":
		if v == 0 {
			return "0"
		}
		return sign + formatSeconds(v, step)
	case "currencyUSD":
		if v == 0 {
			return "$0"
		}
		if v < 1000 {
			return sign + "$" + strconv.FormatFloat(v, 'f', max(2, decimals(step)), 64)
		}
		return sign + "$" + scaled(v, step, []string{"K", "M", "B", "T"})
	case "percentunit":
		return sign + trimmed(v*100, decimals(step*100)) + "%"
	case "none":
		return sign + trimmed(v, decimals(step))
	default:
		return sign + scaled(v, step, []string{"k", "M", "B", "T"})
	}
}

// formatSeconds formats v seconds, v > 0, in the largest unit from
// nanoseconds to days it is at least one of.
func formatSeconds(v, step float64) string {
	units := []struct {
		size   float64
		suffix string
	}{
		{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}, {1e-3, "ms"}, {1e-6, "µs"}, {1e-9, "ns"},
	}
	for _, u := range units {
		if v >= u.size || u.size == 1e-9 {
			d := decimals(step / u.size)
			if u.size > 1 {
				d = min(d, 2) // a minute, an hour is not a power of ten
			}
			return trimmed(v/u.size, d) + u.suffix
		}
	}
	panic("unreachable")
}

// scaled formats v, v > 0, divided by the largest power of a thousand it
// is at least one of, with that power's suffix.
func scaled(v, step float64, suffixes []string) string {
	size, suffix := 1.0, ""
	for _, s := range suffixes {
		if v < size*1000 {
			break
		}
		size, suffix = size*1000, s
	}
	return trimmed(v/size, decimals(step/size)) + suffix
}

// decimals returns how many decimals, up to 6, print step exactly.
func decimals(step float64) int {
	for d := range 6 {
		r := step * math.Pow(10, float64(d))
		if math.Abs(r-math.Round(r)) < 1e-6*max(1, r) {
			return d
		}
	}
	return 6
}

// trimmed formats v with d decimals, without the trailing zeros.
func trimmed(v float64, d int) string {
	s := strconv.FormatFloat(v, 'f', d, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fitText returns s, shortened with an ellipsis if it is wider than w in
// sty.
func fitText(sty text.Style, s string, w vg.Length) string {
	if sty.Width(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && sty.Width(string(r)+"…") > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// truncate returns s, cut to n runes with an ellipsis if it is longer.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// legend is the legend of a panel laid out in lines, left to right, below
// its plot.
type legend struct {
	entries []legendEntry
}

// legendEntry is an entry of a legend and where it goes: the name of a
// series next to a line of its colour, or, with no colour, how many
// series are left out.
type legendEntry struct {
	text  string
	color color.Color // nil for the count of the series left out
	line  int         // from the top, from 0
	x     vg.Length   // from the left of the legend
}

// newLegend lays out the legend of p in at most maxLines lines w wide: as
// many series as fit, maxLegendEntries at most, then "+N more" for the
// others. A panel without data has no legend.
func newLegend(p panelData, w vg.Length, maxLines int) legend {
	if !hasData(p) {
		return legend{}
	}
	for n := min(len(p.Series), maxLegendEntries); ; n-- {
		entries := make([]legendEntry, 0, n+1)
		for i, s := range p.Series[:n] {
			name := s.Name
			if name == "" {
				name = "(no name)"
			}
			entries = append(entries, legendEntry{text: truncate(name, maxLegendRunes), color: seriesColors[i%len(seriesColors)]})
		}
		if n < len(p.Series) {
			entries = append(entries, legendEntry{text: fmt.Sprintf("+%d more", len(p.Series)-n)})
		}
		if l := layOut(entries, w); l.lines() <= maxLines || n == 0 {
			return l
		}
	}
}

// layOut places entries left to right in lines w wide.
func layOut(entries []legendEntry, w vg.Length) legend {
	sty := sans(legendSize, false, textColor)
	var x vg.Length
	line := 0
	for i, e := range entries {
		ew := sty.Width(e.text)
		if e.color != nil {
			ew += px(legendSwatch + 6)
		}
		if x > 0 && x+ew > w {
			line, x = line+1, 0
		}
		entries[i].line, entries[i].x = line, x
		x += ew + px(legendSpacing)
	}
	return legend{entries: entries}
}

// lines returns how many lines l takes.
func (l legend) lines() int {
	if len(l.entries) == 0 {
		return 0
	}
	return l.entries[len(l.entries)-1].line + 1
}

// draw draws l from the top left of c, which it is clipped to.
func (l legend) draw(c draw.Canvas) {
	for _, e := range l.entries {
		y := c.Max.Y - px(float64(e.line)*legendLineH+legendLineH/2)
		x := c.Min.X + e.x
		sty := sans(legendSize, false, mutedColor)
		sty.YAlign = draw.YCenter
		if e.color != nil {
			c.StrokeLine2(draw.LineStyle{Color: e.color, Width: px(3)}, x, y, x+px(legendSwatch), y)
			x += px(legendSwatch + 6)
			sty.Color = textColor
		}
		c.FillText(sty, vg.Point{X: x, Y: y}, fitText(sty, e.text, c.Max.X-x))
	}
}

// testPanels returns panels of synthetic data: rates in "short", latencies
// in "s" with a gap, costs in "currencyUSD", more series than the legend
// holds, and panels without data.
func testPanels() []panelData {
	start := time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)
	const n = 41 // every 15s for 10 minutes
	times := make([]time.Time, n)
	for i := range times {
		times[i] = start.Add(time.Duration(i) * 15 * time.Second)
	}
	series := func(name string, f func(i int) float64) seriesData {
		s := seriesData{Name: name, Times: times, Values: make([]float64, n)}
		for i := range s.Values {
			s.Values[i] = f(i)
		}
		return s
	}
	wave := func(base, amp, phase float64) func(int) float64 {
		return func(i int) float64 { return base + amp*math.Sin(float64(i)/5+phase) }
	}
	gappy := func(f func(int) float64) func(int) float64 {
		return func(i int) float64 {
			if (i >= 12 && i < 18) || i == 30 || i == 32 {
				return math.NaN() // a gap, and a lone sample at 31
			}
			return f(i)
		}
	}
	many := make([]seriesData, 12)
	for k := range many {
		many[k] = series(fmt.Sprintf(`{service_name="checkout-%02d", deployment_environment_name="production-eu-west"}`, k),
			wave(float64(10+5*k), 4, float64(k)))
	}
	allNaN := series("crs_action_failures", func(int) float64 { return math.NaN() })
	return []panelData{
		{Title: "Spans per second", Unit: "short", Series: []seriesData{
			series("checkout", wave(1800, 600, 0)),
			series("payment", wave(900, 300, 1)),
			series("search", wave(2400, 200, 2)),
		}},
		{Title: "Action latency p95", Unit: "s", Series: []seriesData{
			series("p95", gappy(wave(0.9, 0.6, 0))),
			series("p50", wave(0.25, 0.1, 1)),
		}},
		{Title: "Cost of model calls", Unit: "currencyUSD", Series: []seriesData{
			series("gpt-5", func(i int) float64 { return 0.0004 * float64(i) }),
			series("claude-sonnet-4", func(i int) float64 { return 0.00025 * float64(i) }),
		}},
		{Title: "Spans by service", Unit: "short", Series: many},
		{Title: "Actions without series", Unit: "short"},
		{Title: "Failed actions", Unit: "percentunit", Series: []seriesData{allNaN}},
		{Title: "Queue size", Unit: "none", Series: []seriesData{series("queue", wave(3, 3, 0))}},
	}
}

// TestRenderDashboard renders synthetic panels and checks the PNG: its
// size, that each panel's cell of the grid has something drawn (coloured
// lines where there is data, only grey text where there is none), and
// that the same input makes the same bytes. It needs neither crstelcol nor
// Prometheus, and runs under -short.
func TestRenderDashboard(t *testing.T) {
	const cols, width = 3, 1500
	panels := testPanels()
	dir := t.TempDir()
	path := filepath.Join(dir, "dashboard.png")
	start := time.Now()
	if err := renderDashboard(path, "crstel", panels, cols, width); err != nil {
		t.Fatal(err)
	}
	t.Logf("rendered %d panels in %s", len(panels), time.Since(start).Round(time.Millisecond))

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	bounds := img.Bounds()
	if got, want := color.RGBAModel.Convert(img.At(0, 0)), color.Color(backgroundColor); got != want {
		t.Errorf("got %v in the top left corner, want the background %v", got, want)
	}
	if got := bounds.Dx(); got != width {
		t.Errorf("got width %d, want %d", got, width)
	}
	rows := (len(panels) + cols - 1) / cols
	panelH := panelAspect * width / cols
	if got, lo, hi := bounds.Dy(), int(float64(rows)*panelH), int(float64(rows)*panelH)+200; got < lo || got > hi {
		t.Errorf("got height %d, want %d to %d for %d rows", got, lo, hi, rows)
	}

	// The cells of the grid, as a share of the image below the title.
	cellW, cellH := bounds.Dx()/cols, (bounds.Dy()-titleBand)/rows
	for i, p := range panels {
		x0, y0 := (i%cols)*cellW, titleBand+(i/cols)*cellH
		cell := image.Rect(x0, y0, x0+cellW, y0+cellH)
		dark, colourful := 0, 0
		for y := cell.Min.Y; y < cell.Max.Y; y++ {
			for x := cell.Min.X; x < cell.Max.X; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				r, g, b = r>>8, g>>8, b>>8
				if max(r, g, b)-min(r, g, b) > 80 {
					colourful++
				} else if max(r, g, b) < 0x90 {
					dark++
				}
			}
		}
		if dark < 200 {
			t.Errorf("panel %q: %d dark pixels, want text", p.Title, dark)
		}
		if data := hasData(p); data && colourful < 500 {
			t.Errorf("panel %q: %d coloured pixels, want the lines of its series", p.Title, colourful)
		} else if !data && colourful > 0 {
			t.Errorf("panel %q, without data: %d coloured pixels, want none", p.Title, colourful)
		}
	}

	again := filepath.Join(dir, "again.png")
	if err := renderDashboard(again, "crstel", testPanels(), cols, width); err != nil {
		t.Fatal(err)
	}
	b2, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Errorf("the same panels rendered twice make different PNGs (%d and %d bytes)", len(b), len(b2))
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 2 {
		t.Errorf("got %v (%v) in the directory, want the two PNGs and no temporary file", entries, err)
	}
}

// TestRenderDashboardErrors: what cannot be rendered fails, naming what,
// and writes nothing.
func TestRenderDashboardErrors(t *testing.T) {
	ok := []panelData{{Title: "ok"}}
	bad := []panelData{{Title: "Latency", Series: []seriesData{{Name: "p95", Times: make([]time.Time, 3), Values: make([]float64, 2)}}}}
	for _, tt := range []struct {
		name   string
		panels []panelData
		cols   int
		width  int
		want   string
	}{
		{"no panels", nil, 2, 1000, "render dashboard: no panels"},
		{"no columns", ok, 0, 1000, "render dashboard: 0 columns"},
		{"narrow", ok, 4, 500, "render dashboard: 500 px is too narrow for 4 columns"},
		{"series", bad, 2, 1000, `render dashboard: panel "Latency": series "p95": 3 times but 2 values`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dashboard.png")
			err := renderDashboard(path, "crstel", tt.panels, tt.cols, tt.width)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one starting %q", err, tt.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("got %v for the file, want it not written", err)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", "dashboard.png")
		err := renderDashboard(path, "crstel", ok, 1, 1000)
		if err == nil || !strings.HasPrefix(err.Error(), "render dashboard: ") || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("got error %v, want one naming the directory", err)
		}
	})
}

// TestFormatValue: the labels of the Y axis in each unit.
func TestFormatValue(t *testing.T) {
	for _, tt := range []struct {
		unit    string
		v, step float64
		want    string
	}{
		{"s", 0, 0.25, "0"},
		{"currencyUSD", 0, 0.005, "$0"},
		{"percentunit", 0, 0.1, "0%"},
		{"s", 0.25, 0.25, "250ms"},
		{"s", 1.5, 0.5, "1.5s"},
		{"s", 1, 0.5, "1s"},
		{"s", 0.0025, 0.0005, "2.5ms"},
		{"s", 0.00004, 0.00001, "40µs"},
		{"s", 90, 30, "1.5min"},
		{"s", 7200, 3600, "2h"},
		{"currencyUSD", 0.012, 0.002, "$0.012"},
		{"currencyUSD", 1.5, 0.5, "$1.50"},
		{"currencyUSD", 2500, 500, "$2.5K"},
		{"currencyUSD", -0.5, 0.5, "-$0.50"},
		{"short", 500, 100, "500"},
		{"short", 1500, 500, "1.5k"},
		{"short", 2000, 500, "2k"},
		{"short", 2.5e6, 5e5, "2.5M"},
		{"short", 0.25, 0.05, "0.25"},
		{"", 3000, 1000, "3k"},
		{"percentunit", 0.25, 0.05, "25%"},
		{"percentunit", 0.005, 0.0025, "0.5%"},
		{"none", 12000, 2000, "12000"},
		{"none", 0.3, 0.1, "0.3"},
		{"none", math.Copysign(0, -1), 0.1, "0"},
	} {
		if got := formatValue(tt.unit, tt.v, tt.step); got != tt.want {
			t.Errorf("formatValue(%q, %g, %g): got %q, want %q", tt.unit, tt.v, tt.step, got, tt.want)
		}
	}
}

// TestTimeTicks: a time axis is marked at round clock times of its
// location, no more of them than fit, none at its very ends.
func TestTimeTicks(t *testing.T) {
	kathmandu := time.FixedZone("+0545", 5*3600+45*60)
	for _, tt := range []struct {
		from time.Time
		span time.Duration
		max  int
		want []string
	}{
		{time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC), 10 * time.Minute, 6,
			[]string{"15:06:00", "15:08:00", "15:10:00", "15:12:00"}},
		{time.Date(2026, 1, 2, 15, 4, 7, 0, time.UTC), 10 * time.Minute, 12,
			[]string{"15:05:00", "15:06:00", "15:07:00", "15:08:00", "15:09:00", "15:10:00", "15:11:00", "15:12:00", "15:13:00"}},
		{time.Date(2026, 1, 2, 15, 4, 7, 0, time.UTC), time.Minute, 8,
			[]string{"15:04:20", "15:04:30", "15:04:40", "15:04:50", "15:05:00"}},
		{time.Date(2026, 1, 2, 15, 4, 7, 0, time.UTC), time.Minute, 5,
			[]string{"15:04:15", "15:04:30", "15:04:45", "15:05:00"}},
		{time.Date(2026, 1, 2, 15, 4, 7, 0, kathmandu), 6 * time.Hour, 4,
			[]string{"16:00:00", "18:00:00", "20:00:00"}},
		{time.Date(2026, 1, 2, 15, 4, 7, 0, time.UTC), 72 * time.Hour, 4,
			[]string{"01-04 00:00", "01-05 00:00"}},
	} {
		ticks := timeTicks{loc: tt.from.Location(), max: tt.max}.Ticks(unixSeconds(tt.from), unixSeconds(tt.from.Add(tt.span)))
		var got []string
		for _, tk := range ticks {
			got = append(got, tk.Label)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s from %s, at most %d: got %v, want %v", tt.span, tt.from, tt.max, got, tt.want)
		}
	}
}

// TestSegments: a series is cut at its NaN and infinite samples, in time
// order whatever the order of its samples.
func TestSegments(t *testing.T) {
	at := func(sec int) time.Time { return time.Unix(int64(1_767_366_240+sec), 0) }
	nan, inf := math.NaN(), math.Inf(1)
	s := seriesData{
		Name:   "p95",
		Times:  []time.Time{at(0), at(15), at(45), at(30), at(60), at(75), at(90), at(105)},
		Values: []float64{1, 2, 4, nan, 5, inf, 7, 8},
	}
	var got [][]float64
	for _, seg := range segments(s) {
		var ys []float64
		for _, p := range seg {
			ys = append(ys, p.Y)
		}
		got = append(got, ys)
	}
	want := [][]float64{{1, 2}, {4, 5}, {7, 8}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("got segments %v, want %v", got, want)
	}
}
