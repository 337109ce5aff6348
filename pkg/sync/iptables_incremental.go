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
// after a failure, another family) it applies in full.
func (a iptablesApplier) Update(ctx context.Context, m *model.Model) error {
	if m.Family != a.ipt.Family || a.ipt.loaded == nil {
		return a.Apply(ctx, m)
	}
	return a.ipt.Update(ctx, iptables.Render(m))
}

// loadedChains is what svcproxy last loaded into one family: per table,
// a hash of each owned chain's rules. A hash rather than the rules keeps
// the memory of a 10,000-Service node at a few megabytes; two different
// rule lists share a 64-bit hash with a chance of 2^-64.
type loadedChains struct {
	seed   maphash.Seed
	tables map[string]map[string]uint64
}

// newLoadedChains hashes every chain of rs.
func newLoadedChains(rs *iptables.Ruleset) *loadedChains {
	l := &loadedChains{seed: maphash.MakeSeed(), tables: map[string]map[string]uint64{}}
	for _, t := range rs.Tables {
		chains := make(map[string]uint64, len(t.Chains))
		for _, c := range t.Chains {
			chains[c.Name] = l.hash(c.Rules)
		}
		l.tables[t.Name] = chains
	}
	return l
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
	name    string
	refill  []iptables.Chain
	removed []string
	// hashes is the table's state once the delta is applied.
	hashes map[string]uint64
}

// delta compares t with what was loaded into its table.
func (l *loadedChains) delta(t iptables.Table) tableDelta {
	old := l.tables[t.Name]
	d := tableDelta{name: t.Name, hashes: make(map[string]uint64, len(t.Chains))}
	for _, c := range t.Chains {
		h := l.hash(c.Rules)
		d.hashes[c.Name] = h
		if prev, ok := old[c.Name]; !ok || prev != h {
			d.refill = append(d.refill, c)
		}
	}
	for name := range old {
		if _, ok := d.hashes[name]; !ok {
			d.removed = append(d.removed, name)
		}
	}
	slices.Sort(d.removed)
	return d
}

func (d tableDelta) empty() bool { return len(d.refill) == 0 && len(d.removed) == 0 }

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
	a.lastIncremental = true
	if len(deltas) > 0 {
		loaded := a.loaded
		a.loaded = nil
		if err := a.restore(ctx, deltaPayload(deltas)); err != nil {
			return err
		}
		for _, d := range deltas {
			loaded.tables[d.name] = d.hashes
		}
		a.loaded = loaded
	}
	a.stats = iptablesStats(rs)
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
