package sync

import (
	"context"
	"fmt"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Cleanup removes what svcproxy installed, in every mode: its nftables
// tables and its iptables chains (and their jumps from the built-in
// chains) in both iptables variants, for both families. Rules of other
// tools are left alone.
type Cleanup struct {
	Runner Runner
	// KubeProxy also removes kube-proxy's leftovers (its canary chains,
	// the KUBE-XLB- chains of older versions and its `kube-proxy` nftables
	// tables), so svcproxy can take over a node that ran kube-proxy.
	// kube-proxy's other iptables chains have svcproxy's names and go
	// anyway.
	KubeProxy bool
}

// Run removes everything and reports what it removed, one line each.
// A variant whose tools are not installed has nothing to clean.
func (c *Cleanup) Run(ctx context.Context) ([]string, error) {
	var report []string
	for _, fam := range model.Families {
		for _, mode := range []Mode{ModeIPTablesLegacy, ModeIPTablesNFT} {
			lines, err := removeIPTables(ctx, c.Runner, fam, mode, c.KubeProxy)
			if err != nil {
				return report, fmt.Errorf("cleaning up %s %s: %w", fam, mode, err)
			}
			report = append(report, lines...)
		}
	}
	lines, err := removeNFTables(ctx, c.Runner, c.KubeProxy)
	return append(report, lines...), err
}
