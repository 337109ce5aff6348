package nftables

import (
	"errors"
	"fmt"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// ErrFullSync is what Diff's errors wrap when the change between two
// models cannot be sent as a delta and the table must be loaded in full.
var ErrFullSync = errors.New("a full sync is needed")

var errUnsorted = fmt.Errorf("%w: Service ports not sorted by name", ErrFullSync)

// Delta is an incremental transaction: what turns the table rendered
// from one model into the table rendered from the next, touching only
// the changed Service ports' elements and chains.
type Delta struct {
	// Text is the `nft -f` input; empty when the tables are equal.
	Text string
	// Ports is how many Service ports changed, were added or removed.
	Ports int

	claims  map[string]change
	chains  map[string]change
	hairpin map[addrKey]change
	counts  Counts
}

// change counts how many changed ports stopped and started claiming a
// destination, using a chain or contributing a hairpin address.
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

// Diff returns the Delta from the table of prev, described by idx, to the
// table of next. Only ports whose pointer changed are compared, and only
// changed ones are rendered; Diff neither reads nor changes idx beyond
// looking up counts, so a failed apply leaves it as it was. Call
// idx.Commit with the Delta once its text is applied.
//
// Diff returns an error wrapping ErrFullSync when a delta could end
// elsewhere than a full load or is not worth it: the family, node or
// configuration changed (they shape shared chains); a changed port claims
// a destination another port claims too (the first in model order wins,
// which only the whole model tells); too many ports changed.
//
// New chains (a new endpoint count, a Service with affinity or source
// ranges) are added in the delta with their rules and maps, and chains no
// port needs any more are flushed and deleted in it: a full load for
// those would cost seconds at 10,000 Services, and they are ordinary
// commands in the same atomic transaction.
func Diff(prev, next *model.Model, idx *Index) (*Delta, error) {
	if !sameContext(prev, next) {
		return nil, fmt.Errorf("%w: family, node or configuration changed", ErrFullSync)
	}
	changes, err := changedPorts(prev.Services, next.Services)
	if err != nil {
		return nil, err
	}
	if n := len(changes); n > maxDeltaPorts(len(next.Services)) {
		return nil, fmt.Errorf("%w: %d Service ports changed", ErrFullSync, n)
	}
	d := newDiffer(prev, next, idx)
	for _, c := range changes {
		d.addChange(c)
	}
	delta, err := d.delta()
	if err != nil {
		return nil, err
	}
	delta.Ports = len(changes)
	return delta, nil
}

// Commit updates idx to describe the table after d is applied.
func (idx *Index) Commit(d *Delta) {
	commitCounts(idx.claims, d.claims)
	commitCounts(idx.chains, d.chains)
	commitCounts(idx.hairpin, d.hairpin)
	idx.counts = d.counts
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
