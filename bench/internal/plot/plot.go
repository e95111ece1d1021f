// Package plot draws the latency-distribution figure of BENCHMARKS.md as a
// PNG with gonum.org/v1/plot: panels of cumulative distributions on a
// logarithmic latency axis, under one title. Only the benchmark tools
// import it, so the library's import graph never reaches gonum.
package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series is one curve: X[i] is the latency (ms) at cumulative fraction Y[i].
type Series struct {
	Label string
	Color color.RGBA
	X, Y  []float64
}

// Panel is one chart of the figure.
type Panel struct {
	Title  string
	Series []Series
}

// Size of the figure, in pixels at dpi.
const (
	dpi            = 96
	panelW, panelH = 640, 420 // one panel
	titleH         = 40       // the figure's title
)

// px converts pixels to vg's length.
func px(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }

// CDF writes a figure of panels, cols per row, under a title, as PNG.
func CDF(w io.Writer, title string, panels []Panel, cols int) error {
	if len(panels) == 0 {
		return fmt.Errorf("plot: no panels")
	}
	cols = max(1, min(cols, len(panels)))
	rows := (len(panels) + cols - 1) / cols
	grid := make([][]*gplot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*gplot.Plot, cols)
	}
	for i, p := range panels {
		pl, err := panelPlot(p)
		if err != nil {
			return err
		}
		grid[i/cols][i%cols] = pl
	}

	width, height := px(cols*panelW), px(titleH+rows*panelH)
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	dc.FillText(draw.TextStyle{
		Color:   color.Black,
		Font:    font.From(gplot.DefaultFont, 14),
		XAlign:  draw.XCenter,
		YAlign:  draw.YTop,
		Handler: gplot.DefaultTextHandler,
	}, vg.Point{X: width / 2, Y: height - px(10)}, title)
	body := draw.Crop(dc, 0, 0, 0, -px(titleH))
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: px(16), PadY: px(16), PadTop: px(4), PadBottom: px(8), PadLeft: px(8), PadRight: px(16)}
	canvases := gplot.Align(grid, tiles, body)
	for r := range grid {
		for c, pl := range grid[r] {
			if pl != nil {
				pl.Draw(canvases[r][c])
			}
		}
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// panelPlot builds one panel: a CDF per series on a log latency axis
// spanning whole decades.
func panelPlot(p Panel) (*gplot.Plot, error) {
	pl := gplot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text = "latency, POST to receipt (ms, log scale)"
	pl.Y.Label.Text = "fraction"
	pl.X.Scale = gplot.LogScale{}
	pl.X.Tick.Marker = gplot.LogTicks{Prec: -1}
	pl.Y.Min, pl.Y.Max = 0, 1
	pl.Y.Tick.Marker = gplot.ConstantTicks([]gplot.Tick{
		{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"}, {Value: 0.5, Label: "0.5"},
		{Value: 0.75, Label: "0.75"}, {Value: 0.9, Label: "0.9"}, {Value: 1, Label: "1"},
	})
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 225}
	grid.Horizontal.Color = color.Gray{Y: 225}
	pl.Add(grid)
	pl.Legend.Top, pl.Legend.Left = true, true
	pl.Legend.XOffs, pl.Legend.YOffs = px(12), -px(8)

	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		pts := points(s)
		if len(pts) == 0 {
			continue
		}
		for _, pt := range pts {
			lo, hi = math.Min(lo, pt.X), math.Max(hi, pt.X)
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("plot: %s, %s: %w", p.Title, s.Label, err)
		}
		l.LineStyle.Color = s.Color
		l.LineStyle.Width = vg.Points(1.8)
		pl.Add(l)
		pl.Legend.Add(s.Label, l)
	}
	if math.IsInf(lo, 1) { // no data: an empty decade
		lo, hi = 0.1, 1
	}
	pl.X.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	pl.X.Max = math.Pow(10, math.Ceil(math.Log10(hi)))
	if pl.X.Max <= pl.X.Min {
		pl.X.Max = pl.X.Min * 10
	}
	return pl, nil
}

// points are a series' finite points with a positive latency (a log axis
// has no zero).
func points(s Series) plotter.XYs {
	var pts plotter.XYs
	for i := 0; i < len(s.X) && i < len(s.Y); i++ {
		x, y := s.X[i], s.Y[i]
		if x > 0 && !math.IsInf(x, 0) && !math.IsNaN(y) && !math.IsInf(y, 0) {
			pts = append(pts, plotter.XY{X: x, Y: y})
		}
	}
	return pts
}
