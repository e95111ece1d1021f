package plot

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func series(label string, c color.RGBA, k float64) Series {
	var xs, ys []float64
	for i := 0; i <= 100; i++ {
		xs = append(xs, k*(1+float64(i)/10))
		ys = append(ys, float64(i)/100)
	}
	return Series{Label: label, Color: c, X: xs, Y: ys}
}

// count is how many pixels of img have color c.
func count(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				n++
			}
		}
	}
	return n
}

func TestCDF(t *testing.T) {
	blue, red, green := color.RGBA{0, 0, 255, 255}, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 160, 0, 255}
	// Zero, NaN and infinite points (a run without samples) are skipped,
	// not drawn at the edge of the log axis.
	odd := Series{Label: "odd", Color: green, X: []float64{0, math.NaN(), math.Inf(1), 2}, Y: []float64{0, 0.5, 0.7, 1}}
	panels := []Panel{
		{Title: "fanout 1000, 20/s", Series: []Series{series("go", blue, 1), series("node", red, 3)}},
		{Title: "empty"},
		{Title: "odd", Series: []Series{odd}},
	}
	var buf bytes.Buffer
	if err := CDF(&buf, "Latency", panels, 2); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 2*panelW || b.Dy() != titleH+2*panelH {
		t.Errorf("size %v, want %dx%d", b, 2*panelW, titleH+2*panelH)
	}
	// Both curves of the first panel are drawn, in their colors.
	if count(img, blue) < 200 || count(img, red) < 200 {
		t.Errorf("curves missing: %d blue, %d red pixels", count(img, blue), count(img, red))
	}
	if err := CDF(&buf, "x", nil, 2); err == nil {
		t.Error("no panels accepted")
	}
}

// Nothing outside bench/ may reach gonum: only the benchmark tools import
// this package, so the library's users never download or build it.
func TestOnlyBenchImportsGonum(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const module = "github.com/entreactive/reactive"
	all, err := exec.Command("go", "list", module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, all)
	}
	var outside []string
	for _, pkg := range strings.Fields(string(all)) {
		if pkg != module+"/bench" && !strings.HasPrefix(pkg, module+"/bench/") {
			outside = append(outside, pkg)
		}
	}
	if !slices.Contains(outside, module+"/server") || !slices.Contains(outside, module+"/entreactive") {
		t.Fatalf("go list missed the library's packages: %v", outside)
	}
	deps, err := exec.Command("go", append([]string{"list", "-deps"}, outside...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, deps)
	}
	for _, line := range strings.Split(string(deps), "\n") {
		if strings.HasPrefix(line, "gonum.org/") {
			t.Errorf("a package outside bench/ imports %s", line)
		}
	}
}
