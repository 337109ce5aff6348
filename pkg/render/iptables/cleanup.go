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

// RemovalOf returns the removal of the chains svcproxy owns from a table
// as saved: the jumps from built-in chains to them are deleted, then the
// chains are flushed and deleted (one that another tool still jumps to is
// only flushed). With kubeProxy it also removes what kube-proxy leaves
// behind that svcproxy never renders: its canary chain and the KUBE-XLB-
// chains of older versions.
func RemovalOf(table string, st *Saved, kubeProxy bool) Removal {
	isOwned := owned
	if kubeProxy {
		isOwned = func(chain string) bool {
			return owned(chain) || chain == "KUBE-PROXY-CANARY" || strings.HasPrefix(chain, "KUBE-XLB-")
		}
	}
	var remove []string
	for _, ch := range st.chains {
		if isOwned(ch) {
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
			if isOwned(ruleTarget(rule)) {
				b = appendRuleLine(b, "-D ", ch, rule)
				r.Jumps++
			}
		}
	}
	for _, ch := range remove {
		if !st.referencedElsewhere(ch, isOwned) {
			b = appendDeletion(b, ch)
		}
	}
	r.Payload = append(b, "COMMIT\n"...)
	return r
}
