package nftables

import (
	"reflect"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// A fragment is what one Service port adds to the table, rendered alone
// in its model's context: a renderer holding only that port's elements
// (no shared sets: hairpin, cluster IPs), the chains it uses with their rules
// and own sets and maps, its claims and its endpoint addresses. Rendering
// the ports of a model one by one as fragments gives the same elements
// and chains as rendering the model whole, except where two ports claim
// one destination; Diff refuses those.
func fragmentOf(m *model.Model, sp *model.ServicePort) *renderer {
	r := newRenderer(m)
	r.addServicePort(sp)
	return r
}

// sameChain reports whether two renderings of a chain are identical:
// object, rules in order, and own sets and maps.
func sameChain(a, b *chain) bool {
	if len(a.rules) != len(b.rules) || len(a.owned) != len(b.owned) || !sameChainObject(a, b) {
		return false
	}
	for i := range a.rules {
		x, y := a.rules[i], b.rules[i]
		if x.Rule != y.Rule || (x.Comment == nil) != (y.Comment == nil) || (x.Comment != nil && *x.Comment != *y.Comment) {
			return false
		}
	}
	for i := range a.owned {
		// Sets and maps are small structs of strings and pointers to
		// them: DeepEqual compares what they say, not where they are.
		if !reflect.DeepEqual(a.owned[i], b.owned[i]) {
			return false
		}
	}
	return true
}

// sameChainObject compares the chain objects: regular chains made by
// ensureChain differ only by name.
func sameChainObject(a, b *chain) bool {
	return a.obj.Name == b.obj.Name && a.obj.Type == nil && b.obj.Type == nil
}
