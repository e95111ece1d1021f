// Package plot draws the latency-distribution figure of BENCHMARKS.md as a
// PNG with the standard library only: panels of cumulative distributions on
// a logarithmic latency axis, with a built-in bitmap font for the labels.
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
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

const (
	panelW, panelH = 640, 420
	scale          = 2 // font pixels per glyph pixel
	charW, charH   = 6 * scale, 8 * scale
)

// Fixed colors (never written).
var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	grid  = color.RGBA{225, 225, 225, 255}
)

// CDF writes a figure of panels, cols per row, under a title, as PNG.
func CDF(w io.Writer, title string, panels []Panel, cols int) error {
	if len(panels) == 0 {
		return fmt.Errorf("plot: no panels")
	}
	cols = max(1, min(cols, len(panels)))
	rows := (len(panels) + cols - 1) / cols
	top := 3 * charH
	img := image.NewRGBA(image.Rect(0, 0, cols*panelW, top+rows*panelH))
	fill(img, img.Bounds(), white)
	text(img, (img.Bounds().Dx()-len(title)*charW)/2, charH, title, black)
	for i, p := range panels {
		x0, y0 := (i%cols)*panelW, top+(i/cols)*panelH
		drawPanel(img, image.Rect(x0, y0, x0+panelW, y0+panelH), p)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func drawPanel(img *image.RGBA, r image.Rectangle, p Panel) {
	// Plot area inside the panel.
	a := image.Rect(r.Min.X+7*charW, r.Min.Y+3*charH, r.Max.X-4*charW, r.Max.Y-4*charH)
	text(img, r.Min.X+(r.Dx()-len(p.Title)*charW)/2, r.Min.Y+charH/2, p.Title, black)

	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		for _, x := range s.X {
			if x > 0 {
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0.1, 1
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	px := func(x float64) int {
		x = math.Max(x, lo)
		return a.Min.X + int(float64(a.Dx())*(math.Log10(x)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo)))
	}
	py := func(y float64) int { return a.Max.Y - int(float64(a.Dy())*y) }

	// Grid and ticks.
	for _, y := range []float64{0, 0.25, 0.5, 0.75, 0.9, 1} {
		hline(img, a.Min.X, a.Max.X, py(y), grid)
		lbl := fmt.Sprintf("%g", y)
		text(img, a.Min.X-len(lbl)*charW-charW/2, py(y)-charH/2+scale, lbl, black)
	}
	mults := []float64{1, 2, 5}
	if math.Log10(hi/lo) > 3 {
		mults = []float64{1} // many decades: label powers of ten only
	}
	for d := lo; d <= hi*1.0001; d *= 10 {
		for _, m := range mults {
			x := d * m
			if x > hi*1.0001 {
				break
			}
			vline(img, px(x), a.Min.Y, a.Max.Y, grid)
			lbl := fmt.Sprintf("%g", x)
			text(img, px(x)-len(lbl)*charW/2, a.Max.Y+charH/2, lbl, black)
		}
	}
	hline(img, a.Min.X, a.Max.X, a.Max.Y, black)
	vline(img, a.Min.X, a.Min.Y, a.Max.Y, black)
	xl := "LATENCY, POST TO RECEIPT (MS, LOG SCALE)"
	text(img, a.Min.X+(a.Dx()-len(xl)*charW)/2, a.Max.Y+2*charH, xl, black)
	text(img, r.Min.X+charW/2, a.Min.Y-2*charH+scale, "FRACTION", black)

	// Curves, then the legend at the lower right.
	for _, s := range p.Series {
		for i := 1; i < len(s.X) && i < len(s.Y); i++ {
			line(img, px(s.X[i-1]), py(s.Y[i-1]), px(s.X[i]), py(s.Y[i]), s.Color)
		}
	}
	// A CDF leaves its upper left empty: the legend goes there.
	lx, ly := a.Min.X+charW, a.Min.Y+charH
	for i, s := range p.Series {
		y := ly + i*charH
		fill(img, image.Rect(lx, y+charH/2-2, lx+2*charW, y+charH/2+2), s.Color)
		text(img, lx+3*charW, y, s.Label, black)
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	fill(img, image.Rect(x0, y, x1+1, y+1), c)
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	fill(img, image.Rect(x, y0, x+1, y1+1), c)
}

// line draws a 3-pixel-wide segment (Bresenham with a square pen).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		fill(img, image.Rect(x0-1, y0-1, x0+2, y0+2), c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

// text draws s with its top-left corner at x, y.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		g := glyph(r)
		for row, bits := range g {
			for col, b := range bits {
				if b == '#' {
					fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += charW
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
