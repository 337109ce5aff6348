package sync

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
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
			lines, err := c.iptables(ctx, fam, mode)
			if err != nil {
				return report, fmt.Errorf("cleaning up %s %s: %w", fam, mode, err)
			}
			report = append(report, lines...)
		}
	}
	lines, err := c.nftables(ctx)
	return append(report, lines...), err
}

// owned reports whether cleanup removes a chain.
func (c *Cleanup) owned(chain string) bool {
	if iptables.Owned(chain) {
		return true
	}
	return c.KubeProxy && (chain == "KUBE-PROXY-CANARY" || strings.HasPrefix(chain, "KUBE-XLB-"))
}

func (c *Cleanup) iptables(ctx context.Context, fam model.Family, mode Mode) ([]string, error) {
	save, restore := IPTablesCommand(fam, mode, "save"), IPTablesCommand(fam, mode, "restore")
	if _, err := c.Runner.LookPath(save); err != nil {
		return nil, nil
	}
	if _, err := c.Runner.LookPath(restore); err != nil {
		return nil, nil
	}
	// Without -t, iptables-save dumps only the tables that exist; asking
	// for one would create it in the legacy variant.
	out, err := c.Runner.Run(ctx, nil, save)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	tables := parseSaved(string(out))
	names := make([]string, 0, len(tables))
	for name := range tables {
		names = append(names, name)
	}
	slices.Sort(names)
	var report []string
	for _, name := range names {
		payload, chains, jumps := c.removalPayload(name, tables[name])
		if chains == 0 {
			continue
		}
		if _, err := c.Runner.Run(ctx, payload, restore, "--noflush", "--wait"); err != nil {
			return report, fmt.Errorf("removing chains from the %s table: %w", name, err)
		}
		report = append(report, fmt.Sprintf("%s %s %s table: removed %d chains and %d jumps", mode, fam, name, chains, jumps))
	}
	return report, nil
}

// removalPayload returns the restore input that deletes the jumps from
// built-in chains to removed chains, then flushes and deletes those
// chains (one that another tool still jumps to is only flushed).
func (c *Cleanup) removalPayload(table string, st *savedTable) (payload []byte, chains, jumps int) {
	var remove []string
	for _, ch := range st.chains {
		if c.owned(ch) {
			remove = append(remove, ch)
		}
	}
	if len(remove) == 0 {
		return nil, 0, 0
	}
	var b strings.Builder
	b.WriteString("*" + table + "\n")
	for _, ch := range remove {
		b.WriteString(":" + ch + " - [0:0]\n")
	}
	for _, ch := range builtinOrder {
		for _, r := range st.rules[ch] {
			if c.owned(ruleTarget(r)) {
				b.WriteString("-D " + ch + " " + r + "\n")
				jumps++
			}
		}
	}
	for _, ch := range remove {
		if !referencedElsewhereBy(st, ch, c.owned) {
			b.WriteString("-X " + ch + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return []byte(b.String()), len(remove), jumps
}

// nftables deletes svcproxy's tables, and kube-proxy's with KubeProxy.
func (c *Cleanup) nftables(ctx context.Context) ([]string, error) {
	if _, err := c.Runner.LookPath("nft"); err != nil {
		return nil, nil
	}
	out, err := c.Runner.Run(ctx, nil, "nft", "list", "tables")
	if err != nil {
		return nil, fmt.Errorf("listing nftables tables: %w", err)
	}
	want := map[string]bool{"ip " + nftables.TableName: true, "ip6 " + nftables.TableName: true}
	if c.KubeProxy {
		want["ip kube-proxy"], want["ip6 kube-proxy"] = true, true
	}
	var report []string
	for line := range strings.Lines(string(out)) {
		table := strings.TrimPrefix(strings.TrimSpace(line), "table ")
		if !want[table] {
			continue
		}
		family, name, _ := strings.Cut(table, " ")
		if _, err := c.Runner.Run(ctx, nil, "nft", "delete", "table", family, name); err != nil {
			return report, fmt.Errorf("deleting nftables table %s: %w", table, err)
		}
		report = append(report, "nftables: deleted table "+table)
	}
	return report, nil
}
