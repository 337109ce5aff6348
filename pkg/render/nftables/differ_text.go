package nftables

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/render"
)

// chainChanges are the chains a delta adds, deletes, or refills because
// their only user changed them (an affinity chain whose endpoints
// changed); changedOld holds the refilled chains as they were.
type chainChanges struct {
	added, deleted, changed, changedOld []*chain
}

// chainChanges sorts the chains the changed ports used into those no
// port used before, those no port uses after, and those whose rules
// changed. A shared chain is a function of its name, so its rules only
// change with its only user; anything else is refused.
func (d *differ) chainChanges() (*chainChanges, error) {
	cc := &chainChanges{}
	for _, name := range sortedKeys(d.chains) {
		prev := d.idx.chains[name]
		after, ok := d.chains[name].after(prev)
		old, cur := d.oldChains[name], d.newChains[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: the index lost a use of chain %s", render.ErrFullSync, name)
		case prev == 0 && after > 0:
			cc.added = append(cc.added, cur)
		case prev > 0 && after == 0:
			cc.deleted = append(cc.deleted, old)
		case old == nil || cur == nil || sameChain(old, cur):
		case prev == 1 && after == 1:
			cc.changed, cc.changedOld = append(cc.changed, cur), append(cc.changedOld, old)
		default:
			return nil, fmt.Errorf("%w: shared chain %s renders differently", render.ErrFullSync, name)
		}
	}
	return cc, nil
}

// delta checks the accumulated changes and writes the transaction:
// element deletions, then the chain changes, then element additions.
// Deletions go first so that no element names a chain being deleted, and
// "add element" never meets an old element of the same key. Chains to
// delete are flushed first, so their rules let go of other chains and of
// their own maps and sets; new chains, sets and maps come before any rule
// or element that names them.
func (d *differ) delta() (*Delta, error) {
	if err := d.checkClaims(); err != nil {
		return nil, err
	}
	if err := d.queueShared(); err != nil {
		return nil, err
	}
	cc, err := d.chainChanges()
	if err != nil {
		return nil, err
	}
	family := Family(d.next.Family)
	var b strings.Builder
	d.writeElements(&b, "delete element "+string(family)+" "+TableName+" ", d.deletes, true)
	if skeleton := cc.transaction(family); skeleton.NumOperations() > 0 {
		b.WriteString(skeleton.String())
	}
	d.writeElements(&b, "add element "+string(family)+" "+TableName+" ", d.adds, false)
	return &Delta{text: b.String(), claims: d.claims, chains: d.chains, shared: d.shared, counts: d.counts(cc)}, nil
}

func (d *differ) writeElements(b *strings.Builder, prefix string, lists map[string]*elementList, keysOnly bool) {
	for _, name := range sortedKeys(lists) {
		lists[name].writeCommands(b, prefix+name, keysOnly)
	}
}

// transaction returns the chain, set and map commands of the changes.
func (cc *chainChanges) transaction(family knftables.Family) *knftables.Transaction {
	tx := knftables.NewFake(family, TableName).NewTransaction()
	for _, c := range slices.Concat(cc.changed, cc.deleted) {
		tx.Flush(&knftables.Chain{Name: c.obj.Name})
	}
	for _, c := range cc.deleted {
		tx.Delete(&knftables.Chain{Name: c.obj.Name})
	}
	for _, c := range cc.deleted {
		for _, obj := range c.owned {
			switch o := obj.(type) {
			case *knftables.Set:
				tx.Delete(&knftables.Set{Name: o.Name})
			case *knftables.Map:
				tx.Delete(&knftables.Map{Name: o.Name})
			}
		}
	}
	for _, c := range cc.added {
		tx.Add(c.obj)
		for _, obj := range c.owned {
			tx.Add(obj)
		}
	}
	refilled := slices.Concat(cc.added, cc.changed)
	slices.SortFunc(refilled, func(a, b *chain) int { return strings.Compare(a.obj.Name, b.obj.Name) })
	for _, c := range refilled {
		for _, r := range c.rules {
			tx.Add(r)
		}
	}
	return tx
}

// counts returns the table's counts after the delta.
func (d *differ) counts(cc *chainChanges) render.Counts {
	c := d.idx.counts
	for _, l := range d.adds {
		c.Elements += l.len()
	}
	for _, l := range d.deletes {
		c.Elements -= l.len()
	}
	c.Chains += len(cc.added) - len(cc.deleted)
	for _, ch := range slices.Concat(cc.added, cc.changed) {
		c.Rules += len(ch.rules)
	}
	for _, ch := range slices.Concat(cc.deleted, cc.changedOld) {
		c.Rules -= len(ch.rules)
	}
	return c
}
