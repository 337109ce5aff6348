package iptables

import (
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// State is what a delta needs to know of the rules loaded into one
// family: per table, a hash of each owned chain's rules, and the model
// they were rendered from. A hash rather than the rules keeps the memory
// of a 10,000-Service node at a few megabytes; two different rule lists
// share a 64-bit hash with a chance of 2^-64.
type State struct {
	family model.Family
	tables map[string]map[string]chainState
	// jumps are each table's jumps from the built-in chains, which
	// deltas never change.
	jumps map[string][]Jump
	// order is the tables' order in the ruleset, for Counts.
	order []string
	// model is the model the chains were rendered from, or nil when its
	// render declared a chain twice, which the per-chain state cannot
	// describe.
	model *model.Model
}

// chainState is what is remembered of one loaded chain.
type chainState struct {
	hash  uint64
	rules int
}

// chainSeed seeds the chain hashes. They are compared within one process
// only, so a random seed is as good as any and never shows in output.
var chainSeed = maphash.MakeSeed()

// hashRules returns the hash of a chain's rules, in order.
func hashRules(rules []string) uint64 {
	var h maphash.Hash
	h.SetSeed(chainSeed)
	for _, r := range rules {
		h.WriteString(r)
		h.WriteByte('\n')
	}
	return h.Sum64()
}

// State returns the state of the kernel once rs is loaded in full.
func (rs *Ruleset) State() *State {
	st := &State{family: rs.Family, tables: map[string]map[string]chainState{}, jumps: map[string][]Jump{}, model: rs.model}
	for _, t := range rs.Tables {
		st.jumps[t.Name] = t.Jumps
		chains := make(map[string]chainState, len(t.Chains))
		for _, c := range t.Chains {
			chains[c.Name] = chainState{hash: hashRules(c.Rules), rules: len(c.Rules)}
		}
		if len(chains) != len(t.Chains) {
			st.model = nil
		}
		st.tables[t.Name] = chains
		st.order = append(st.order, t.Name)
	}
	return st
}

// Tables returns the names of the loaded tables.
func (st *State) Tables() []string { return st.order }

// Counts returns what the loaded tables hold.
func (st *State) Counts() []render.Counts {
	out := make([]render.Counts, 0, len(st.order))
	for _, name := range st.order {
		c := render.Counts{Table: name, Chains: len(st.tables[name])}
		for _, ch := range st.tables[name] {
			c.Rules += ch.rules
		}
		out = append(out, c)
	}
	return out
}

// Delta is what turns the loaded rules into those of the next model: per
// table, the chains to declare (created or flushed) and refill, and the
// chains to delete. The jumps from the built-in chains are not in it:
// they never change, and a full load puts them back.
type Delta struct {
	tables []tableDelta
	// model is the model the State records once the delta is loaded;
	// nil when the next render declares a chain twice.
	model *model.Model
}

// tableDelta is what changed in one table.
type tableDelta struct {
	name   string
	refill []Chain
	// hashes are those of refill's chains.
	hashes  []uint64
	removed []string
}

// Diff returns the Delta from the rules st describes to next's. When st
// knows the model it came from and next renders a port the same way
// (compatible), only the ports that changed are rendered (see
// portsDelta); otherwise next is rendered whole and compared chain by
// chain. Either way the delta is exactly what a full render would change.
// Diff only reads st; call st.Commit once the delta is loaded. It returns
// an error wrapping render.ErrFullSync when nothing is loaded yet or the
// family differs.
func Diff(st *State, next *model.Model) (*Delta, error) {
	switch {
	case st == nil:
		return nil, fmt.Errorf("%w: nothing loaded yet", render.ErrFullSync)
	case st.family != next.Family:
		return nil, fmt.Errorf("%w: the loaded rules are %s, not %s", render.ErrFullSync, st.family, next.Family)
	}
	if d, ok := st.portsDelta(next); ok {
		return d, nil
	}
	return st.chainsDelta(Render(next)), nil
}

// chainsDelta compares every chain of rs with the loaded ones.
func (st *State) chainsDelta(rs *Ruleset) *Delta {
	d := &Delta{model: rs.model}
	for _, t := range rs.Tables {
		td := tableDelta{name: t.Name}
		old := st.tables[t.Name]
		declared := make(map[string]bool, len(t.Chains))
		for _, c := range t.Chains {
			declared[c.Name] = true
			td.compare(old, c)
		}
		if len(declared) != len(t.Chains) {
			d.model = nil
		}
		for name := range old {
			if !declared[name] {
				td.removed = append(td.removed, name)
			}
		}
		slices.Sort(td.removed)
		d.add(td)
	}
	return d
}

// compare adds c to the chains to refill if its rules differ from those
// of the chain of its name in old.
func (d *tableDelta) compare(old map[string]chainState, c Chain) {
	h := hashRules(c.Rules)
	if prev, ok := old[c.Name]; !ok || prev.hash != h {
		d.refill = append(d.refill, c)
		d.hashes = append(d.hashes, h)
	}
}

// add keeps td unless it changes nothing.
func (d *Delta) add(td tableDelta) {
	if len(td.refill) > 0 || len(td.removed) > 0 {
		d.tables = append(d.tables, td)
	}
}

// Counts returns what the delta sends: per table it changes, the chains
// it declares and the rules it fills them with.
func (d *Delta) Counts() []render.Counts {
	out := make([]render.Counts, 0, len(d.tables))
	for _, td := range d.tables {
		c := render.Counts{Table: td.name, Chains: len(td.refill) + len(td.removed)}
		for _, ch := range td.refill {
			c.Rules += len(ch.Rules)
		}
		out = append(out, c)
	}
	return out
}

// Empty reports whether the delta changes nothing, so that no restore is
// needed.
func (d *Delta) Empty() bool { return len(d.tables) == 0 }

// Payload returns the `iptables-restore --noflush` input of the delta:
// changed chains declared, which flushes them, and refilled; chains
// gone flushed, then deleted once no refilled chain jumps to them.
func (d *Delta) Payload() []byte {
	var b []byte
	for _, td := range d.tables {
		declare := make([]string, 0, len(td.refill)+len(td.removed))
		for _, c := range td.refill {
			declare = append(declare, c.Name)
		}
		declare = append(declare, td.removed...)
		slices.Sort(declare)
		b = appendTableStart(b, td.name)
		for _, name := range declare {
			b = appendDeclaration(b, name)
		}
		b = appendRules(b, td.refill)
		for _, name := range td.removed {
			b = appendDeletion(b, name)
		}
		b = append(b, "COMMIT\n"...)
	}
	return b
}

// Commit records that d was loaded.
func (st *State) Commit(d *Delta) {
	for _, td := range d.tables {
		chains := st.tables[td.name]
		if chains == nil {
			chains = map[string]chainState{}
			st.tables[td.name] = chains
			st.order = append(st.order, td.name)
		}
		for i, c := range td.refill {
			chains[c.Name] = chainState{hash: td.hashes[i], rules: len(c.Rules)}
		}
		for _, name := range td.removed {
			delete(chains, name)
		}
	}
	st.model = d.model
}
