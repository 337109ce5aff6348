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
	// Families limits the cleanup to these families; nil is both.
	Families []model.Family
	// Keep names, per family, the backend svcproxy runs in: its rules
	// there are the live ones and stay, while kube-proxy's leftovers in
	// it still go. This is the takeover of a node, which kube-proxy
	// itself does on start, removing the rules of its other modes.
	Keep map[model.Family]Mode
	// Tables lists and deletes nftables tables over netlink; nil uses
	// nft.
	Tables TableLister
}

// Run removes everything and reports what it removed, one line each.
// A variant whose tools are not installed has nothing to clean.
func (c *Cleanup) Run(ctx context.Context) ([]string, error) {
	families := c.Families
	if families == nil {
		families = model.Families
	}
	var report []string
	tables := map[string]bool{}
	for _, fam := range families {
		for _, mode := range []Mode{ModeIPTablesLegacy, ModeIPTablesNFT} {
			lines, err := removeIPTables(ctx, c.Runner, fam, mode, c.Keep[fam] != mode, c.KubeProxy)
			if err != nil {
				return report, fmt.Errorf("cleaning up %s %s: %w", fam, mode, err)
			}
			report = append(report, lines...)
		}
		tables[nftablesTable(fam)] = c.Keep[fam] != ModeNFTables
		tables[kubeProxyTable(fam)] = c.KubeProxy
	}
	lines, err := removeNFTables(ctx, c.Runner, tables, c.Tables)
	return append(report, lines...), err
}
