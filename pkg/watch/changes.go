package watch

import (
	"time"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Changes describes what changed between two Snapshots.
type Changes struct {
	// Objects holds the objects, as they now are, of every Service
	// touched by a change of the Service itself or of one of its
	// EndpointSlices, and the EndpointSlices that name no Service: what
	// model.Builder.Update rebuilds.
	Objects model.Changes
	// NodeChanged is true when the Node's addresses or zone changed, or the
	// Node appeared or went away.
	NodeChanged bool
	// Full is true when every Service must be treated as touched: on the
	// first Snapshot, whenever NodeChanged is true, since node addresses
	// and zone reach every Service's rules, and when a ServiceCIDR
	// changed.
	Full bool
	// OldestChange is when the oldest change still in effect was recorded;
	// zero when there is none.
	OldestChange time.Time
	// Triggers are the v1.EndpointsLastChangeTriggerTime annotations
	// of the changed EndpointSlices, sorted by time, for measuring
	// network programming latency.
	Triggers []Trigger
	// NodeWarnings are the problems found reading the Node when
	// NodeChanged is true.
	NodeWarnings []model.Warning
}

// Trigger is when a change of an EndpointSlice was made, by its
// v1.EndpointsLastChangeTriggerTime annotation, and the family of the
// slice's addresses: the family whose rules the change reaches.
type Trigger struct {
	Time   time.Time
	Family model.Family
}

// pair is the change of one object since the last Snapshot: previous is
// the object as the last Snapshot saw it, current as it is now. A nil
// value means the object did not exist.
type pair[T comparable] struct {
	previous, current T
	// since is when the first change of this pair was recorded.
	since time.Time
	// triggers are the change trigger times seen on the way from previous
	// to current.
	triggers []time.Time
}

// objectChanges holds the current objects of one kind by "namespace/name"
// and their pending changes.
type objectChanges[T comparable] struct {
	current map[string]T
	pending map[string]*pair[T]
	// same reports whether two versions of an object (either may be nil)
	// look alike to the model.
	same func(a, b T) bool
	// total counts the events that left a change pending.
	total int
}

func newObjectChanges[T comparable](same func(a, b T) bool) *objectChanges[T] {
	return &objectChanges[T]{current: map[string]T{}, pending: map[string]*pair[T]{}, same: same}
}

// record sets the object under key to obj (nil for a deletion), coalescing
// the change into the key's pending pair: the pair keeps its first previous
// and takes obj as current, and it is dropped when the two look alike. It
// reports whether a change is pending for key afterwards.
func (c *objectChanges[T]) record(key string, obj T, now time.Time, trigger time.Time) bool {
	var null T
	p := c.pending[key]
	if p == nil {
		p = &pair[T]{previous: c.current[key], since: now}
	}
	p.current = obj
	if !trigger.IsZero() {
		p.triggers = append(p.triggers, trigger)
	}
	if obj == null {
		delete(c.current, key)
	} else {
		c.current[key] = obj
	}
	if c.same(p.previous, p.current) {
		delete(c.pending, key)
		return false
	}
	c.pending[key] = p
	c.total++
	return true
}

// take returns the pending pairs and forgets them.
func (c *objectChanges[T]) take() map[string]*pair[T] {
	out := c.pending
	c.pending = map[string]*pair[T]{}
	return out
}

// objects returns the current objects in a new slice.
func (c *objectChanges[T]) objects() []T {
	out := make([]T, 0, len(c.current))
	for _, obj := range c.current {
		out = append(out, obj)
	}
	return out
}
