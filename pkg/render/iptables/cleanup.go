package iptables

import "strings"

// Removal is the restore input that removes svcproxy's chains from one
// table, and what it removes.
type Removal struct {
	Payload []byte
	// Chains and Jumps count the chains removed and the jumps to them
	// deleted from built-in chains; both zero when there is nothing to do.
	Chains, Jumps int
}

// Leftovers chooses what a Removal removes.
type Leftovers struct {
	// Own is every chain svcproxy renders. They have kube-proxy's names,
	// so these are kube-proxy's chains too.
	Own bool
	// KubeProxy is what kube-proxy leaves behind that svcproxy never
	// renders: its canary chain and the KUBE-XLB- chains of older
	// versions.
	KubeProxy bool
}

// removes reports whether a chain of this name is one of what.
func (what Leftovers) removes(chain string) bool {
	if what.Own && owned(chain) {
		return true
	}
	return what.KubeProxy && (chain == "KUBE-PROXY-CANARY" || strings.HasPrefix(chain, "KUBE-XLB-"))
}

// RemovalOf returns the removal of the chains what chooses from a table
// as saved: the jumps from built-in chains to them are deleted, then the
// chains are flushed and deleted (one that a chain of another tool still
// jumps to is only flushed).
func RemovalOf(table string, st *Saved, what Leftovers) Removal {
	var remove []string
	for _, ch := range st.chains {
		if what.removes(ch) {
			remove = append(remove, ch)
		}
	}
	if len(remove) == 0 {
		return Removal{}
	}
	r := Removal{Chains: len(remove)}
	b := appendTableStart(nil, table)
	for _, ch := range remove {
		b = appendDeclaration(b, ch)
	}
	for _, ch := range builtinOrder {
		for _, rule := range st.rules[ch] {
			if what.removes(ruleTarget(rule)) {
				b = appendRuleLine(b, "-D ", ch, rule)
				r.Jumps++
			}
		}
	}
	for _, ch := range remove {
		if !st.referencedElsewhere(ch, what.removes) {
			b = appendDeletion(b, ch)
		}
	}
	r.Payload = append(b, "COMMIT\n"...)
	return r
}
