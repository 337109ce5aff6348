package iptables

import (
	"strings"
)

// Saved is one table as iptables-save printed it: what a full restore must
// take into account beyond svcproxy's own chains (stale chains to delete,
// jumps in the built-in chains, other tools' references).
type Saved struct {
	chains []string
	// counts holds the number of rules of every chain.
	counts map[string]int
	// rules holds each chain's rules as iptables-save spells them (after
	// "-A CHAIN "), except those of owned chains: a restore replaces them
	// without looking, and at 10,000 Services they are most of the dump.
	rules map[string][]string
}

// ParseSave reads iptables-save output into its tables by name. It only
// needs the chain list and rules, and trusts the format iptables-save
// writes.
func ParseSave(out []byte) map[string]*Saved {
	tables := map[string]*Saved{}
	var cur *Saved
	for line := range strings.Lines(string(out)) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "*"):
			cur = emptySaved()
			tables[line[1:]] = cur
		case cur == nil:
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			cur.chains = append(cur.chains, name)
			cur.counts[name] = 0
		case strings.HasPrefix(line, "-A "):
			chain, rule, _ := strings.Cut(line[3:], " ")
			cur.counts[chain]++
			if !owned(chain) {
				cur.rules[chain] = append(cur.rules[chain], rule)
			}
		}
	}
	return tables
}

func emptySaved() *Saved { return &Saved{counts: map[string]int{}, rules: map[string][]string{}} }

// ruleTarget returns the chain or target a saved rule jumps to, or "".
func ruleTarget(rule string) string {
	fields := strings.Fields(rule)
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "-j" || fields[i] == "-g" {
			return fields[i+1]
		}
	}
	return ""
}

// referencedElsewhere reports whether a rule in a chain that isOwned does
// not claim jumps to chain: deleting it would fail the whole restore, so
// it is only flushed, and the other tool's jump then falls through
// harmlessly.
func (st *Saved) referencedElsewhere(chain string, isOwned func(string) bool) bool {
	for c, rules := range st.rules {
		if isOwned(c) || builtinChains[c] {
			continue
		}
		for _, r := range rules {
			if ruleTarget(r) == chain {
				return true
			}
		}
	}
	return false
}

// builtinOrder lists the chains iptables creates itself, which no restore
// may flush or delete, in a fixed order for deterministic payloads.
var builtinOrder = []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// builtinChains is builtinOrder as a set.
var builtinChains = map[string]bool{
	"PREROUTING": true, "INPUT": true, "FORWARD": true, "OUTPUT": true, "POSTROUTING": true,
}
