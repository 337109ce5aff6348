package bench

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/svcproxy/svcproxy/pkg/model"
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
	Counts   Counts
}

// Counts is the size of a rendered ruleset.
type Counts struct {
	Chains, Rules, Elements int
}

// Render renders m the way a full sync in mode does (iptables: the
// iptables-restore payload; nftables: the `nft -f` text) and measures it.
func Render(m *model.Model, mode sync.Mode) (RenderCost, error) {
	render, err := renderer(mode)
	if err != nil {
		return RenderCost{}, err
	}
	var best RenderCost
	var out string
	for i := range renderRuns {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		out = render(m)
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
	best.Counts = Count(out, mode)
	return best, nil
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

// Count counts the chains, rules and set/map elements of a rendered
// ruleset. iptables: ":" chain lines and "-A" rule lines. nftables: "add
// chain" and "add rule" lines; element commands are merged, so a line
// holds one more element than it has ", " separators.
func Count(rendered string, mode sync.Mode) Counts {
	var c Counts
	for line := range strings.Lines(rendered) {
		if mode != sync.ModeNFTables {
			switch {
			case strings.HasPrefix(line, ":"):
				c.Chains++
			case strings.HasPrefix(line, "-A "):
				c.Rules++
			}
			continue
		}
		switch {
		case strings.HasPrefix(line, "add chain "):
			c.Chains++
		case strings.HasPrefix(line, "add rule "):
			c.Rules++
		case strings.HasPrefix(line, "add element "):
			c.Elements += strings.Count(line, ", ") + 1
		}
	}
	return c
}
