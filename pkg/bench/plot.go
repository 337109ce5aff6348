package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/svcproxy/svcproxy/pkg/sync"
)

// ErrNothingToPlot is returned by WriteSVG when no result has kernel
// times, as when the kernel steps were skipped.
var ErrNothingToPlot = errors.New("no first-apply times to plot: the kernel steps were skipped")

// WriteSVG plots the first-apply time against the number of Services, one
// line per mode in the order the modes first appear, and writes it as SVG.
func WriteSVG(w io.Writer, results []Result) error {
	var modes []sync.Mode
	points := map[sync.Mode]plotter.XYs{}
	for _, r := range results {
		if r.Kernel == nil {
			continue
		}
		if _, ok := points[r.Mode]; !ok {
			modes = append(modes, r.Mode)
		}
		points[r.Mode] = append(points[r.Mode], plotter.XY{X: float64(r.Services), Y: r.Kernel.FirstApply.Seconds()})
	}
	if len(modes) == 0 {
		return ErrNothingToPlot
	}
	p := plot.New()
	p.Title.Text = "svcproxy: first full apply"
	p.X.Label.Text = "Services"
	p.Y.Label.Text = "first apply (s)"
	// Top left: the lines rise to the right, so that corner stays clear.
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	var lines []any
	for _, mode := range modes {
		xys := points[mode]
		slices.SortFunc(xys, func(a, b plotter.XY) int { return int(a.X - b.X) })
		lines = append(lines, string(mode), xys)
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return fmt.Errorf("plotting first-apply times: %w", err)
	}
	// Room past the last point, so its tick label is not cut off.
	p.X.Min, p.X.Max = 0, p.X.Max*1.08
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "svg")
	if err != nil {
		return fmt.Errorf("drawing the plot: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("writing the SVG: %w", err)
	}
	return nil
}
