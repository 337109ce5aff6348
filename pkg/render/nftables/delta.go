package nftables

import (
	"fmt"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// State is what a delta needs to know of the table loaded into one
// family: the model it was rendered from and the Index of its render.
type State struct {
	model *model.Model
	idx   *Index
}

// State returns the state of the kernel once rs is loaded.
func (rs *Ruleset) State() *State { return &State{model: rs.model, idx: rs.index} }

// Counts returns what the loaded table holds.
func (st *State) Counts() []render.Counts { return []render.Counts{st.idx.counts} }

// Delta is an incremental transaction: what turns the table rendered
// from one model into the table rendered from the next, touching only
// the changed Service ports' elements and chains.
type Delta struct {
	// text is the `nft -f` input; empty when the tables are equal.
	text string
	// ports is how many Service ports changed, were added or removed.
	ports int
	next  *model.Model

	claims map[string]change
	chains map[string]change
	shared map[string]map[addrKey]change
	counts render.Counts
}

// Empty reports whether the delta changes nothing, so that nothing needs
// to be sent.
func (d *Delta) Empty() bool { return d.text == "" }

// Payload returns the `nft -f` input of the delta: one transaction, which
// nft checks whole before committing any of it.
func (d *Delta) Payload() []byte { return []byte(d.text) }

// change counts how many changed ports stopped and started claiming a
// destination, using a chain or contributing an address to a shared set.
type change struct{ removed, added int32 }

// after returns the count once the change is applied to prev, and false
// when prev cannot be right: more ports stopped than there were.
func (c change) after(prev int32) (int32, bool) {
	return prev - c.removed + c.added, prev >= c.removed
}

// maxDeltaPorts is how many changed ports a delta may carry: beyond a
// quarter of the table a full load is about as cheap, and it also
// repairs whatever the kernel may have drifted to.
func maxDeltaPorts(ports int) int { return max(64, ports/4) }

// Diff returns the Delta from the table st describes to the table of
// next. Only the ports model.ChangedPorts reports are rendered; Diff
// neither reads nor changes st beyond looking up counts, so a failed
// apply leaves it as it was. Call st.Commit with the Delta once its text
// is applied.
//
// Diff returns an error wrapping render.ErrFullSync when a delta could
// end elsewhere than a full load or is not worth it: nothing is loaded
// yet; the family, node or configuration changed (they shape shared
// chains); a changed port claims a destination another port claims too
// (the first in model order wins, which only the whole model tells); too
// many ports changed.
//
// New chains (a new endpoint count, a Service with affinity or source
// ranges) are added in the delta with their rules and maps, and chains no
// port needs any more are flushed and deleted in it: a full load for
// those would cost seconds at 10,000 Services, and they are ordinary
// commands in the same atomic transaction.
func Diff(st *State, next *model.Model) (*Delta, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nothing loaded yet", render.ErrFullSync)
	}
	prev := st.model
	if !model.SameContext(prev, next) {
		return nil, fmt.Errorf("%w: family, node or configuration changed", render.ErrFullSync)
	}
	changes, ok := model.ChangedPorts(prev.Services, next.Services)
	if !ok {
		return nil, fmt.Errorf("%w: Service ports not sorted by name", render.ErrFullSync)
	}
	if n := len(changes); n > maxDeltaPorts(len(next.Services)) {
		return nil, fmt.Errorf("%w: %d Service ports changed", render.ErrFullSync, n)
	}
	d := newDiffer(prev, next, st.idx)
	for _, c := range changes {
		d.addChange(c)
	}
	delta, err := d.delta()
	if err != nil {
		return nil, err
	}
	delta.ports, delta.next = len(changes), next
	return delta, nil
}

// Commit records that d was loaded.
func (st *State) Commit(d *Delta) {
	idx := st.idx
	commitCounts(idx.claims, d.claims)
	commitCounts(idx.chains, d.chains)
	for name, changes := range d.shared {
		commitCounts(idx.shared[name], changes)
	}
	idx.counts = d.counts
	st.model = d.next
}

func commitCounts[K comparable](counts map[K]int32, changes map[K]change) {
	for k, c := range changes {
		if n, _ := c.after(counts[k]); n > 0 {
			counts[k] = n
		} else {
			delete(counts, k)
		}
	}
}
