package iptables

// Intact reports whether the tables as saved still hold what st says was
// loaded: every chain, with as many rules as were loaded into it, and
// each built-in chain's jumps in place. This is the canary's full check,
// which sync.IPTables runs when something has changed the tables since
// the last one. iptables-save respells rules, so rules are counted and
// jumps compared by their comment, state match and target; a rule
// changed in place by another program goes unnoticed until the next
// full sync, but one removed, a chain flushed or deleted, or a jump
// moved does not.
func (st *State) Intact(saved map[string]*Saved) bool {
	for _, name := range st.order {
		sv := saved[name]
		if sv == nil {
			return false
		}
		for chain, cs := range st.tables[name] {
			if n, ok := sv.counts[chain]; !ok || n != cs.rules {
				return false
			}
		}
		jumps := groupJumps(st.jumps[name])
		for _, chain := range jumps.chains {
			if !jumps.inPlace(sv, chain) {
				return false
			}
		}
	}
	return true
}
