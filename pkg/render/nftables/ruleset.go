package nftables

import (
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Ruleset is a model rendered for loading: the table's `nft -f` text, and
// what an incremental sync starts from once it is loaded (State).
type Ruleset struct {
	// Text adds and flushes the table, then adds everything in it:
	// chains, sets and maps, rules, and the elements, merged into
	// commands of up to maxElementsPerCommand. This is what render
	// --dry-run prints.
	Text string

	family knftables.Family
	model  *model.Model
	index  *Index
}

// RenderRuleset renders m. The skeleton, a few dozen commands, goes
// through a knftables transaction; the elements are written directly:
// knftables formats each element with fmt, and at 221,000 elements that
// took twice as long as rendering and most of the garbage. The same model
// always gives the same text.
func RenderRuleset(m *model.Model) *Ruleset {
	r := renderAll(m)
	tx := knftables.NewFake(Family(m.Family), TableName).NewTransaction()
	r.emitSkeleton(tx)
	skeleton := tx.String()
	names := sortedKeys(r.elements)
	prefix := func(name string) string {
		return "add element " + string(Family(m.Family)) + " " + TableName + " " + name
	}
	size := len(skeleton)
	for _, name := range names {
		size += r.elements[name].commandsSize(prefix(name))
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(skeleton)
	for _, name := range names {
		r.elements[name].writeCommands(&b, prefix(name), false)
	}
	return &Ruleset{Text: b.String(), family: Family(m.Family), model: m, index: newIndex(r)}
}

// Transaction returns the `nft -f` input that replaces whatever table the
// family holds with this one, in one transaction.
//
// It deletes the table before adding it anew, rather than flushing it and
// each set and map: the kernel flushes a set element by element, and at
// 10,000 Services a resync over the loaded table took 4.0 s that way
// against 1.6 s for an empty namespace. Deleted, the old table goes in
// one step, and with it every chain, set and map the new one lacks, so
// nothing needs listing first. The leading "add table" makes the delete
// succeed when there is no table yet. Packets see the old table or the
// new one, and a refused transaction leaves the old one in place.
func (rs *Ruleset) Transaction() []byte {
	table := string(rs.family) + " " + TableName
	prefix := "add table " + table + "\ndelete table " + table + "\n"
	text := make([]byte, 0, len(prefix)+len(rs.Text))
	return append(append(text, prefix...), rs.Text...)
}

// Canary is what proves svcproxy's table is in place: in every hooked
// chain and in the dispatch chain, a rule only svcproxy's own render puts
// there. Another program's cleanup deletes the table, or flushes or
// deletes a chain; any of that loses one of them. Checking costs the
// same whatever the number of Services: these chains hold a few rules
// each.
type Canary struct {
	Family knftables.Family
	Table  string
	Rules  []CanaryRule
}

// CanaryRule is one rule a chain must hold, as `nft list table` prints
// part of it.
type CanaryRule struct {
	Chain, Rule string
}

// NewCanary returns the canary of a family's table.
func NewCanary(f model.Family) Canary {
	dispatch, firewall, noEndpoints := "jump "+chainServices, "vmap @"+mapFirewallIPs, "vmap @"+mapNoEndpointServices
	return Canary{Family: Family(f), Table: TableName, Rules: []CanaryRule{
		{chainNATPrerouting, dispatch},
		{chainNATOutput, dispatch},
		{chainNATPostrouting, "jump " + chainMasquerading},
		{chainFilterPrerouting, firewall},
		{chainFilterOutput, firewall},
		{chainFilterInput, noEndpoints},
		{chainFilterForward, noEndpoints},
		{chainFilterOutputNAT, noEndpoints},
		{chainServices, "vmap @" + mapServiceIPs},
		{chainServices, "vmap @" + mapServiceNodePorts},
	}}
}
