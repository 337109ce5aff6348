package nftables

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// differ accumulates the fragments of changed ports: their claims, chain
// uses and hairpin addresses as changes to the Index's counts, and their
// elements as deletions and additions.
type differ struct {
	prev, next *model.Model
	idx        *Index

	claims map[string]change
	chains map[string]change
	shared map[string]map[addrKey]change
	// oldChains and newChains hold each chain as the changed ports
	// rendered it in prev and in next.
	oldChains, newChains map[string]*chain
	// deletes holds the elements to delete (only keys are written),
	// adds those to add, by set or map name.
	deletes, adds map[string]*elementList
}

func newDiffer(prev, next *model.Model, idx *Index) *differ {
	return &differ{
		prev: prev, next: next, idx: idx,
		claims:    map[string]change{},
		chains:    map[string]change{},
		shared:    map[string]map[addrKey]change{},
		oldChains: map[string]*chain{},
		newChains: map[string]*chain{},
		deletes:   map[string]*elementList{},
		adds:      map[string]*elementList{},
	}
}

// addChange renders the old and the new fragment of a changed port.
func (d *differ) addChange(c model.PortChange) {
	var old, cur *renderer
	if c.Old != nil {
		old = fragmentOf(d.prev, c.Old)
		d.count(old, true)
	}
	if c.New != nil {
		cur = fragmentOf(d.next, c.New)
		d.count(cur, false)
	}
	for _, name := range elementNames(old, cur) {
		d.diffList(name, elementsOf(old, name), elementsOf(cur, name))
	}
}

// count records what a fragment contributes, as removed or added.
func (d *differ) count(f *renderer, removed bool) {
	for k, n := range f.claimed {
		bump(d.claims, k, n, removed)
	}
	for name, ch := range f.chains {
		bump(d.chains, name, 1, removed)
		if removed {
			d.oldChains[name] = ch
		} else {
			d.newChains[name] = ch
		}
	}
	for _, s := range sharedSets {
		changes := d.shared[s.name]
		if changes == nil {
			changes = map[addrKey]change{}
			d.shared[s.name] = changes
		}
		for _, ip := range f.shared[s.name] {
			bump(changes, ip.As16(), 1, removed)
		}
	}
}

func bump[K comparable](m map[K]change, k K, n int32, removed bool) {
	c := m[k]
	if removed {
		c.removed += n
	} else {
		c.added += n
	}
	m[k] = c
}

// elementNames returns the sets and maps either fragment adds to, sorted.
func elementNames(old, cur *renderer) []string {
	var names []string
	for _, f := range []*renderer{old, cur} {
		if f != nil {
			names = slices.AppendSeq(names, maps.Keys(f.elements))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func elementsOf(f *renderer, name string) *elementList {
	if f == nil {
		return nil
	}
	return f.elements[name]
}

// diffList queues the deletion of old elements that cur lacks or maps to
// another value, and the addition of cur's elements old lacks as they are.
func (d *differ) diffList(name string, old, cur *elementList) {
	kept := make(map[string][]byte, old.len())
	for i := range old.len() {
		kept[string(old.key(i))] = old.body(i)
	}
	for i := range cur.len() {
		if body, ok := kept[string(cur.key(i))]; ok && bytes.Equal(body, cur.body(i)) {
			delete(kept, string(cur.key(i)))
			continue
		}
		listIn(d.adds, name).addRaw(cur.key(i), cur.body(i))
	}
	for i := range old.len() {
		if _, ok := kept[string(old.key(i))]; ok {
			listIn(d.deletes, name).addRaw(old.key(i), old.body(i))
		}
	}
}

func listIn(lists map[string]*elementList, name string) *elementList {
	l := lists[name]
	if l == nil {
		l = &elementList{}
		lists[name] = l
	}
	return l
}

// checkClaims refuses destinations claimed by more than one port before
// or after the change: which one wins depends on the whole model.
func (d *differ) checkClaims() error {
	for key, c := range d.claims {
		prev := d.idx.claims[key]
		after, ok := c.after(prev)
		if !ok {
			return fmt.Errorf("%w: the index lost a claim on %s", render.ErrFullSync, key)
		}
		if prev > 1 || after > 1 {
			return fmt.Errorf("%w: more than one Service port claims %s", render.ErrFullSync, key)
		}
	}
	return nil
}

// queueShared queues the elements of the shared sets whose last
// contributor left or whose first one came.
func (d *differ) queueShared() error {
	ipv4 := d.next.Family == model.IPv4
	for _, s := range sharedSets {
		var added, removed []addrKey
		for k, c := range d.shared[s.name] {
			prev := d.idx.shared[s.name][k]
			after, ok := c.after(prev)
			switch {
			case !ok:
				return fmt.Errorf("%w: the index lost an address of set %s", render.ErrFullSync, s.name)
			case prev == 0 && after > 0:
				added = append(added, k)
			case prev > 0 && after == 0:
				removed = append(removed, k)
			}
		}
		for _, q := range []struct {
			keys  []addrKey
			lists map[string]*elementList
		}{{removed, d.deletes}, {added, d.adds}} {
			slices.SortFunc(q.keys, func(a, b addrKey) int { return bytes.Compare(a[:], b[:]) })
			for _, k := range q.keys {
				s.add(listIn(q.lists, s.name), addrOf(k, ipv4))
			}
		}
	}
	return nil
}
