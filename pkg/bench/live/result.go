package live

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/svcproxy/svcproxy/pkg/sync"
)

// Result is what one proxy did in one mode at one size.
type Result struct {
	Services  int
	Endpoints int
	Proxy     Proxy
	Mode      sync.Mode
	// FirstSync is the duration of the first sync, as the proxy reports it.
	FirstSync time.Duration
	// Ready is the time from starting the proxy to that sync's end
	// being seen, which adds start-up and listing the API.
	Ready time.Duration
	// NotFinished is the timeout when the first sync did not end in time;
	// the other figures are then missing.
	NotFinished time.Duration
	// FirstAnswered is the time from starting the proxy until the last
	// Service's cluster IP was answered by one of its endpoints.
	FirstAnswered time.Duration
	// Changes are the network programming latencies of the endpoint
	// changes, in the order they were made, as the proxy reports them;
	// ChangesSeen the times from each write until a connection to the
	// Service was answered by the moved endpoint; ChangesCommitted the
	// times from each write until the nftables generation changed,
	// none in iptables-legacy mode.
	Changes, ChangesSeen, ChangesCommitted []time.Duration
	// RSS is the proxy's resident memory at the end, PeakRSS its peak;
	// TreePeak the largest sum seen of its RSS and the peaks of the
	// tools it ran (nft, iptables-restore), sampled every 10 ms.
	RSS, PeakRSS, TreePeak uint64
}

// Percentile returns the p-th percentile (0–100) of the change
// latencies the proxy reported, by the nearest-rank method; 0 when there
// are none.
func (r Result) Percentile(p float64) time.Duration { return percentile(r.Changes, p) }

// SeenPercentile is Percentile of the latencies seen from outside.
func (r Result) SeenPercentile(p float64) time.Duration { return percentile(r.ChangesSeen, p) }

// CommittedPercentile is Percentile of the latencies to the kernel's
// commit.
func (r Result) CommittedPercentile(p float64) time.Duration {
	return percentile(r.ChangesCommitted, p)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Columns are the table's and the CSV's column names, in order.
var Columns = []string{"services", "endpoints/svc", "proxy", "mode", "first sync s", "ready s", "answered s",
	"change p50 ms", "change p99 ms", "seen p50 ms", "seen p99 ms", "changes", "RSS MB", "peak RSS MB", "with tools MB",
	"committed p50 ms", "committed p99 ms"}

// Cells returns the row's values in Columns order.
func (r Result) Cells() []string {
	head := []string{strconv.Itoa(r.Services), strconv.Itoa(r.Endpoints), string(r.Proxy), string(r.Mode)}
	mem := []string{megabytes(r.RSS), megabytes(r.PeakRSS), megabytes(r.TreePeak)}
	// The commit columns come last, so that CSV rows of runs before
	// them keep every column in its place.
	committed := []string{"-", "-"}
	if len(r.ChangesCommitted) > 0 {
		committed = []string{millis(r.CommittedPercentile(50)), millis(r.CommittedPercentile(99))}
	}
	if r.NotFinished > 0 {
		nf := "not finished after " + r.NotFinished.String()
		return slices.Concat(head, []string{nf, "-", "-", "-", "-", "-", "-", "0"}, mem, committed)
	}
	lat := []string{"-", "-", "-", "-"}
	if len(r.Changes) > 0 {
		lat = []string{millis(r.Percentile(50)), millis(r.Percentile(99)), millis(r.SeenPercentile(50)), millis(r.SeenPercentile(99))}
	}
	return slices.Concat(head, []string{secs(r.FirstSync), secs(r.Ready), secs(r.FirstAnswered)}, lat, []string{strconv.Itoa(len(r.Changes))}, mem, committed)
}

func millis(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 1, 64) }

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) }

func megabytes(b uint64) string { return strconv.FormatFloat(float64(b)/1e6, 'f', 1, 64) }

// WriteTable writes the results as an aligned table, then, for every size
// and mode both proxies ran in, how many times kube-proxy's figure is
// svcproxy's.
func WriteTable(w io.Writer, results []Result) error {
	rows := [][]string{Columns}
	for _, r := range results {
		rows = append(rows, r.Cells())
	}
	if err := writeAligned(w, rows); err != nil {
		return err
	}
	pairs := comparisons(results)
	if len(pairs) == 0 {
		return nil
	}
	rows = [][]string{{"services", "mode", "first sync ×", "answered ×", "change p50 ×", "seen p50 ×", "RSS ×", "with tools ×"}}
	for _, p := range pairs {
		rows = append(rows, p.cells())
	}
	fmt.Fprintln(w, "\nkube-proxy's figure divided by svcproxy's:")
	return writeAligned(w, rows)
}

// writeAligned writes rows as a right-aligned table.
func writeAligned(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, cells := range rows {
		for _, c := range cells {
			fmt.Fprint(tw, c, "\t")
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the results table: %w", err)
	}
	return nil
}

// comparison pairs the two proxies' results for one size and mode.
type comparison struct{ svc, kube Result }

func comparisons(results []Result) []comparison {
	var out []comparison
	for _, k := range results {
		if k.Proxy != KubeProxy {
			continue
		}
		for _, s := range results {
			if s.Proxy == SvcProxy && s.Services == k.Services && s.Mode == k.Mode {
				out = append(out, comparison{svc: s, kube: k})
			}
		}
	}
	return out
}

// cells gives kube-proxy's figure over svcproxy's: how many times faster
// or smaller svcproxy is. A kube-proxy sync that did not finish gives a
// lower bound, written "≥".
func (c comparison) cells() []string {
	first := ratio(c.kube.FirstSync.Seconds(), c.svc.FirstSync.Seconds())
	answered := ratio(c.kube.FirstAnswered.Seconds(), c.svc.FirstAnswered.Seconds())
	p50 := ratio(c.kube.Percentile(50).Seconds(), c.svc.Percentile(50).Seconds())
	seen := ratio(c.kube.SeenPercentile(50).Seconds(), c.svc.SeenPercentile(50).Seconds())
	switch {
	case c.svc.NotFinished > 0:
		first, answered, p50, seen = "-", "-", "-", "-"
	case c.kube.NotFinished > 0:
		first = "≥ " + ratio(c.kube.NotFinished.Seconds(), c.svc.FirstSync.Seconds())
		answered = "≥ " + ratio(c.kube.NotFinished.Seconds(), c.svc.FirstAnswered.Seconds())
		p50, seen = "-", "-"
	}
	return []string{strconv.Itoa(c.svc.Services), string(c.svc.Mode), first, answered, p50, seen,
		ratio(float64(c.kube.RSS), float64(c.svc.RSS)), ratio(float64(c.kube.TreePeak), float64(c.svc.TreePeak))}
}

func ratio(a, b float64) string {
	if b <= 0 || a <= 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 1, 64)
}

// WriteCSV writes the results as CSV with a header row.
func WriteCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	rows := [][]string{Columns}
	for _, r := range results {
		rows = append(rows, r.Cells())
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("writing CSV: %w", err)
	}
	return nil
}
