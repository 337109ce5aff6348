package bench

import (
	"fmt"
	"runtime"
	"time"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// renderRuns is how many times a render is measured; the best is kept.
const renderRuns = 3

// RenderCost is what rendering one model cost, and what it produced.
type RenderCost struct {
	// Duration and Bytes (allocated) are the best of renderRuns renders.
	Duration time.Duration
	Bytes    uint64
	// Counts is the size of the ruleset, all tables together, as the
	// renderer counts it for metrics.
	Counts render.Counts
}

// Render renders m the way a full sync in mode does (iptables: the
// iptables-restore payload; nftables: the `nft -f` text) and measures it.
func Render(m *model.Model, mode sync.Mode) (RenderCost, error) {
	renderText, err := renderer(mode)
	if err != nil {
		return RenderCost{}, err
	}
	var best RenderCost
	for i := range renderRuns {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		renderText(m)
		d := time.Since(start)
		runtime.ReadMemStats(&after)
		bytes := after.TotalAlloc - before.TotalAlloc
		if i == 0 || d < best.Duration {
			best.Duration = d
		}
		if i == 0 || bytes < best.Bytes {
			best.Bytes = bytes
		}
	}
	best.Counts = countOf(m, mode)
	return best, nil
}

// countOf returns what m's ruleset holds in mode, all tables together.
func countOf(m *model.Model, mode sync.Mode) render.Counts {
	tables := nftables.RenderRuleset(m).State().Counts()
	if mode != sync.ModeNFTables {
		tables = iptables.Render(m).State().Counts()
	}
	var sum render.Counts
	for _, c := range tables {
		sum.Chains += c.Chains
		sum.Rules += c.Rules
		sum.Elements += c.Elements
	}
	return sum
}

func renderer(mode sync.Mode) (func(*model.Model) string, error) {
	switch mode {
	case sync.ModeNFTables:
		return func(m *model.Model) string { return nftables.RenderRuleset(m).Text }, nil
	case sync.ModeIPTablesLegacy, sync.ModeIPTablesNFT:
		return func(m *model.Model) string {
			return string(iptables.Render(m).Payload())
		}, nil
	}
	return nil, fmt.Errorf("rendering: unknown mode %q", mode)
}
