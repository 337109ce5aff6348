package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/svcproxy/svcproxy/pkg/render"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// sampleResults are two rows: one with kernel times, one without.
func sampleResults() []Result {
	return []Result{{
		Services: 1000, Endpoints: 10, Mode: sync.ModeNFTables,
		Render:  RenderCost{Duration: 12345 * time.Microsecond, Bytes: 9_876_543, Counts: render.Counts{Chains: 16, Rules: 22, Elements: 22101}},
		Kernel:  &KernelTimes{FirstApply: 210 * time.Millisecond, ToolLoad: 150 * time.Millisecond, KernelCommit: 90 * time.Millisecond, EndpointChange: 18 * time.Millisecond, ServiceAdd: 19500 * time.Microsecond, ServiceRemove: 20 * time.Millisecond},
		PeakRSS: 52_400_000,
	}, {
		Services: 5000, Endpoints: 10, Mode: sync.ModeIPTablesLegacy,
		Render:  RenderCost{Duration: 2 * time.Second, Bytes: 150_000_000, Counts: render.Counts{Chains: 55509, Rules: 161507}},
		PeakRSS: 300_000_000,
	}}
}

func TestCells(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want []string
	}{{
		name: "with kernel times",
		r:    sampleResults()[0],
		want: []string{"1000", "10", "nftables", "12.3", "9.9", "0.21", "0.15", "0.09", "18.0", "19.5", "20.0", "16", "22", "22101", "52.4"},
	}, {
		name: "kernel skipped",
		r:    sampleResults()[1],
		want: []string{"5000", "10", "iptables-legacy", "2000.0", "150.0", "-", "-", "-", "-", "-", "-", "55509", "161507", "0", "300.0"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.Cells()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
			if len(got) != len(Columns) {
				t.Errorf("%d cells for %d columns", len(got), len(Columns))
			}
		})
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, sampleResults()); err != nil {
		t.Fatal(err)
	}
	want := `services,endpoints/svc,mode,render ms,render MB,first apply s,tool alone s,kernel commit s,endpoint change ms,add ms,remove ms,chains,rules,elements,RSS MB
1000,10,nftables,12.3,9.9,0.21,0.15,0.09,18.0,19.5,20.0,16,22,22101,52.4
5000,10,iptables-legacy,2000.0,150.0,-,-,-,-,-,-,55509,161507,0,300.0
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sampleResults()); err != nil {
		t.Fatal(err)
	}
	want := `  services  endpoints/svc             mode  render ms  render MB  first apply s  tool alone s  kernel commit s  endpoint change ms  add ms  remove ms  chains   rules  elements  RSS MB
      1000             10         nftables       12.3        9.9           0.21          0.15             0.09                18.0    19.5       20.0      16      22     22101    52.4
      5000             10  iptables-legacy     2000.0      150.0              -             -                -                   -       -          -   55509  161507         0   300.0
`
	// tabwriter pads each cell; compare without the trailing padding.
	got := strings.Join(strings.Fields(strings.ReplaceAll(b.String(), "\n", " | ")), " ")
	if diff := cmp.Diff(strings.Join(strings.Fields(strings.ReplaceAll(want, "\n", " | ")), " "), got); diff != "" {
		t.Errorf("table (-want +got):\n%s\nfull output:\n%s", diff, b.String())
	}
}
