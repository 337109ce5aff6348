package sync

import (
	"bytes"
	"context"
	"hash/maphash"
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

var _ updater = iptablesApplier{}

// Update applies m, sending only the chains that changed since the last
// successful restore when that state is known; otherwise (first sync,
// after a failure, another family) it applies in full. When the last
// model is known too, only the service ports that changed are rendered
// (see portDeltas); otherwise m is rendered whole and compared chain by
// chain.
func (a iptablesApplier) Update(ctx context.Context, m *model.Model) error {
	if m.Family != a.ipt.Family || a.ipt.loaded == nil {
		return a.Apply(ctx, m)
	}
	if deltas, ok := a.ipt.loaded.portDeltas(m); ok {
		return a.ipt.updatePorts(ctx, deltas, m)
	}
	return a.withModel(ctx, m, a.ipt.Update)
}

// loadedChains is what svcproxy last loaded into one family: per table,
// a hash of each owned chain's rules. A hash rather than the rules keeps
// the memory of a 10,000-Service node at a few megabytes; two different
// rule lists share a 64-bit hash with a chance of 2^-64.
type loadedChains struct {
	seed   maphash.Seed
	tables map[string]map[string]chainState
	// order is the tables' order in the ruleset, for stats.
	order []string
	// model is the model the chains were rendered from, or nil when
	// that is unknown or its render declared a chain twice, which the
	// per-chain state cannot describe.
	model *model.Model
}

// chainState is what is remembered of one loaded chain.
type chainState struct {
	hash  uint64
	rules int
}

// newLoadedChains hashes every chain of rs.
func newLoadedChains(rs *iptables.Ruleset) *loadedChains {
	l := &loadedChains{seed: maphash.MakeSeed(), tables: map[string]map[string]chainState{}}
	for _, t := range rs.Tables {
		chains := make(map[string]chainState, len(t.Chains))
		for _, c := range t.Chains {
			chains[c.Name] = chainState{hash: l.hash(c.Rules), rules: len(c.Rules)}
		}
		l.tables[t.Name] = chains
		l.order = append(l.order, t.Name)
	}
	return l
}

// setModel remembers m as the model rs, just loaded, was rendered from,
// if rs's chains are exactly what l holds.
func (l *loadedChains) setModel(rs *iptables.Ruleset, m *model.Model) {
	l.model = m
	for _, t := range rs.Tables {
		if len(l.tables[t.Name]) != len(t.Chains) {
			l.model = nil
		}
	}
}

// hash returns the hash of a chain's rules, in order.
func (l *loadedChains) hash(rules []string) uint64 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	for _, r := range rules {
		h.WriteString(r)
		h.WriteByte('\n')
	}
	return h.Sum64()
}

// tableDelta is what changed in one table: chains to declare (created or
// flushed) and refill, and chains to delete.
type tableDelta struct {
	name   string
	refill []iptables.Chain
	// hashes are those of refill's chains.
	hashes  []uint64
	removed []string
}

// delta compares t with what was loaded into its table.
func (l *loadedChains) delta(t iptables.Table) tableDelta {
	old := l.tables[t.Name]
	d := tableDelta{name: t.Name}
	declared := make(map[string]bool, len(t.Chains))
	for _, c := range t.Chains {
		declared[c.Name] = true
		d.compare(l, old, c)
	}
	for name := range old {
		if !declared[name] {
			d.removed = append(d.removed, name)
		}
	}
	slices.Sort(d.removed)
	return d
}

// compare adds c to the chains to refill if its rules differ from those
// of the chain of its name in old.
func (d *tableDelta) compare(l *loadedChains, old map[string]chainState, c iptables.Chain) {
	h := l.hash(c.Rules)
	if prev, ok := old[c.Name]; !ok || prev.hash != h {
		d.refill = append(d.refill, c)
		d.hashes = append(d.hashes, h)
	}
}

func (d tableDelta) empty() bool { return len(d.refill) == 0 && len(d.removed) == 0 }

// apply records that d was loaded.
func (l *loadedChains) apply(d tableDelta) {
	chains := l.tables[d.name]
	if chains == nil {
		chains = map[string]chainState{}
		l.tables[d.name] = chains
		l.order = append(l.order, d.name)
	}
	for i, c := range d.refill {
		chains[c.Name] = chainState{hash: d.hashes[i], rules: len(c.Rules)}
	}
	for _, name := range d.removed {
		delete(chains, name)
	}
}

// stats counts the loaded chains and rules.
func (l *loadedChains) stats() []TableStats {
	out := make([]TableStats, 0, len(l.order))
	for _, name := range l.order {
		s := TableStats{Table: name, Chains: len(l.tables[name])}
		for _, c := range l.tables[name] {
			s.Rules += c.rules
		}
		out = append(out, s)
	}
	return out
}

// Update brings the kernel from the last loaded ruleset to rs with one
// `iptables-restore --noflush` holding only the changed chains: those
// whose rules changed are declared (which flushes them) and refilled,
// those rs no longer has are flushed and then deleted, once the refilled
// chains no longer jump to them. The jumps from the built-in chains are
// left alone: they never change, and a full sync restores them. Without a
// known last state Update applies in full, as Apply does; a failure
// forgets the state, so the next sync is a full one.
func (a *IPTables) Update(ctx context.Context, rs *iptables.Ruleset) error {
	if a.loaded == nil || rs.Family != a.Family {
		return a.Apply(ctx, rs)
	}
	deltas := make([]tableDelta, 0, len(rs.Tables))
	for _, t := range rs.Tables {
		if d := a.loaded.delta(t); !d.empty() {
			deltas = append(deltas, d)
		}
	}
	if err := a.applyDeltas(ctx, deltas); err != nil {
		return err
	}
	// Which model rs came from, if any, only the caller knows.
	a.loaded.model = nil
	a.stats = iptablesStats(rs)
	return nil
}

// updatePorts applies deltas worked out by portDeltas for m.
func (a *IPTables) updatePorts(ctx context.Context, deltas []tableDelta, m *model.Model) error {
	if err := a.applyDeltas(ctx, deltas); err != nil {
		return err
	}
	a.loaded.model = m
	a.stats = a.loaded.stats()
	return nil
}

// applyDeltas restores deltas, if any, and records them as loaded. The
// state is forgotten while the restore runs, so that a failure leaves it
// unknown.
func (a *IPTables) applyDeltas(ctx context.Context, deltas []tableDelta) error {
	a.lastIncremental = true
	if len(deltas) == 0 {
		return nil
	}
	loaded := a.loaded
	a.loaded = nil
	if err := a.restore(ctx, deltaPayload(deltas)); err != nil {
		return err
	}
	for _, d := range deltas {
		loaded.apply(d)
	}
	a.loaded = loaded
	return nil
}

// LastIncremental reports whether the last successful sync sent only
// what changed.
func (a *IPTables) LastIncremental() bool { return a.lastIncremental }

// deltaPayload is the restore input of the deltas.
func deltaPayload(deltas []tableDelta) []byte {
	var b bytes.Buffer
	for _, d := range deltas {
		declare := make([]string, 0, len(d.refill)+len(d.removed))
		for _, c := range d.refill {
			declare = append(declare, c.Name)
		}
		declare = append(declare, d.removed...)
		slices.Sort(declare)
		b.WriteString("*" + d.name + "\n")
		for _, name := range declare {
			writeDeclaration(&b, name)
		}
		writeRules(&b, d.refill)
		for _, name := range d.removed {
			b.WriteString("-X " + name + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	return b.Bytes()
}

// writeDeclaration writes the line that creates chain, or flushes it if it
// exists.
func writeDeclaration(b *bytes.Buffer, chain string) {
	b.WriteByte(':')
	b.WriteString(chain)
	b.WriteString(" - [0:0]\n")
}

// writeRules appends the rules of chains.
func writeRules(b *bytes.Buffer, chains []iptables.Chain) {
	for _, c := range chains {
		for _, r := range c.Rules {
			b.WriteString("-A ")
			b.WriteString(c.Name)
			b.WriteByte(' ')
			b.WriteString(r)
			b.WriteByte('\n')
		}
	}
}
