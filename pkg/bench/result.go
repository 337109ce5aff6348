package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/svcproxy/svcproxy/pkg/sync"
)

// Result is one row of the benchmark: one cluster size in one mode.
type Result struct {
	Services int
	// Endpoints is the number of endpoints of each Service.
	Endpoints int
	Mode      sync.Mode
	Render    RenderCost
	// Kernel is nil when the kernel steps were skipped.
	Kernel *KernelTimes
	// PeakRSS is the process's peak RSS in bytes after this row.
	PeakRSS uint64
}

// Columns are the column names of the table and the CSV, in order.
var Columns = []string{
	"services", "endpoints/svc", "mode", "render ms", "render MB",
	"first apply s", "tool alone s", "kernel commit s", "endpoint change ms", "add ms", "remove ms",
	"chains", "rules", "elements", "RSS MB",
}

// notMeasured fills the cells of the kernel steps when they were skipped.
const notMeasured = "-"

// Cells returns the row's values in Columns order, as the table and the
// CSV print them.
func (r Result) Cells() []string {
	kernel := []string{notMeasured, notMeasured, notMeasured, notMeasured, notMeasured, notMeasured}
	if k := r.Kernel; k != nil {
		commit := notMeasured
		if k.KernelCommit > 0 {
			commit = seconds(k.KernelCommit)
		}
		kernel = []string{seconds(k.FirstApply), seconds(k.ToolLoad), commit, millis(k.EndpointChange), millis(k.ServiceAdd), millis(k.ServiceRemove)}
	}
	cells := []string{
		strconv.Itoa(r.Services), strconv.Itoa(r.Endpoints), string(r.Mode),
		millis(r.Render.Duration), megabytes(r.Render.Bytes),
	}
	cells = append(cells, kernel...)
	return append(cells,
		strconv.Itoa(r.Render.Counts.Chains), strconv.Itoa(r.Render.Counts.Rules),
		strconv.Itoa(r.Render.Counts.Elements), megabytes(r.PeakRSS))
}

func millis(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 1, 64) }

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) }

func megabytes(b uint64) string { return strconv.FormatFloat(float64(b)/1e6, 'f', 1, 64) }

// WriteTable writes the results as an aligned text table with a header.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	writeRow := func(cells []string) {
		for _, c := range cells {
			fmt.Fprint(tw, c, "\t")
		}
		fmt.Fprintln(tw)
	}
	writeRow(Columns)
	for _, r := range results {
		writeRow(r.Cells())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the results table: %w", err)
	}
	return nil
}

// WriteCSV writes the results as CSV with a header row; the kernel
// columns hold "-" when the kernel steps were skipped.
func WriteCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return fmt.Errorf("writing the CSV header: %w", err)
	}
	for _, r := range results {
		if err := cw.Write(r.Cells()); err != nil {
			return fmt.Errorf("writing a CSV row: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing the CSV: %w", err)
	}
	return nil
}
