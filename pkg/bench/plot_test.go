package bench

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/pkg/sync"
)

func TestWriteSVG(t *testing.T) {
	kernel := func(s float64) *KernelTimes { return &KernelTimes{FirstApply: time.Duration(s * float64(time.Second))} }
	tests := []struct {
		name    string
		results []Result
		wantErr error
		// wantText are strings the SVG must hold: the legend's mode names.
		wantText []string
	}{{
		name: "two modes, two sizes",
		results: []Result{
			{Services: 1000, Mode: sync.ModeNFTables, Kernel: kernel(0.2)},
			{Services: 1000, Mode: sync.ModeIPTablesLegacy, Kernel: kernel(0.3)},
			{Services: 10000, Mode: sync.ModeNFTables, Kernel: kernel(2.1)},
			{Services: 10000, Mode: sync.ModeIPTablesLegacy, Kernel: kernel(8.6)},
		},
		wantText: []string{"nftables", "iptables-legacy", "Services"},
	}, {
		name:     "one point",
		results:  []Result{{Services: 50, Mode: sync.ModeIPTablesNFT, Kernel: kernel(0.03)}},
		wantText: []string{"iptables-nft"},
	}, {
		name:    "kernel skipped",
		results: []Result{{Services: 50, Mode: sync.ModeNFTables}},
		wantErr: ErrNothingToPlot,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteSVG(&b, tt.results)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			svg := b.String()
			if !strings.HasPrefix(svg, "<?xml") && !strings.HasPrefix(svg, "<svg") {
				t.Errorf("output does not start as SVG: %.40q", svg)
			}
			if !strings.Contains(svg, "</svg>") {
				t.Errorf("output has no closing </svg>")
			}
			for _, s := range tt.wantText {
				if !strings.Contains(svg, s) {
					t.Errorf("SVG does not mention %q", s)
				}
			}
		})
	}
}
