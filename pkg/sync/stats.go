package sync

import (
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

// TableStats counts what one apply loaded into one table, for metrics.
type TableStats struct {
	// Table is "filter" or "nat" for iptables, "svcproxy" for nftables.
	Table                   string
	Chains, Rules, Elements int
}

// statsReporter is an Applier that can say what it last loaded.
type statsReporter interface {
	LastStats() []TableStats
}

var (
	_ statsReporter = (*NFTables)(nil)
	_ statsReporter = iptablesApplier{}
)

func iptablesStats(rs *iptables.Ruleset) []TableStats {
	var out []TableStats
	for _, t := range rs.Tables {
		s := TableStats{Table: t.Name, Chains: len(t.Chains)}
		for _, c := range t.Chains {
			s.Rules += len(c.Rules)
		}
		out = append(out, s)
	}
	return out
}

// nftablesStats counts a transaction text: element commands are merged,
// and elements never contain ", " but between each other.
func nftablesStats(text string) []TableStats {
	s := TableStats{Table: "svcproxy"}
	for line := range strings.Lines(text) {
		switch {
		case strings.HasPrefix(line, "add chain "):
			s.Chains++
		case strings.HasPrefix(line, "add rule "):
			s.Rules++
		case strings.HasPrefix(line, "add element "):
			s.Elements += strings.Count(line, ", ") + 1
		}
	}
	return []TableStats{s}
}

// Stats returns what the last apply of a family loaded.
func (n *Node) Stats(family model.Family) []TableStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats[family]
}
