package plot

import (
	"bytes"
	"image/color"
	"image/png"
	"testing"
)

func TestCDF(t *testing.T) {
	s := func(label string, c color.RGBA, k float64) Series {
		var xs, ys []float64
		for i := 0; i <= 100; i++ {
			xs = append(xs, k*(1+float64(i)/10))
			ys = append(ys, float64(i)/100)
		}
		return Series{Label: label, Color: c, X: xs, Y: ys}
	}
	var buf bytes.Buffer
	panels := []Panel{
		{Title: "fanout 1000, 20/s", Series: []Series{s("go", color.RGBA{0, 0, 255, 255}, 1), s("node", color.RGBA{255, 0, 0, 255}, 3)}},
		{Title: "empty"},
		{Title: "one", Series: []Series{s("floor", color.RGBA{0, 0, 0, 255}, 0.2)}},
	}
	if err := CDF(&buf, "Latency", panels, 2); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 2*panelW || b.Dy() != 3*charH+2*panelH {
		t.Errorf("size %v", b)
	}
	if err := CDF(&buf, "x", nil, 2); err == nil {
		t.Error("no panels accepted")
	}
}

func TestGlyphs(t *testing.T) {
	for r, g := range glyphs {
		for _, row := range g {
			if len(row) != 5 {
				t.Errorf("glyph %q has a row of %d columns", r, len(row))
			}
		}
	}
	if glyph('a') != glyphs['A'] || glyph('€') != glyphs['?'] {
		t.Error("glyph fallbacks")
	}
}
