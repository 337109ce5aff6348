package sync

import (
	"strings"
)

// savedTable is one table of iptables-save output: its chains, and the
// rules of each chain as iptables-save spells them (after "-A CHAIN ").
type savedTable struct {
	chains []string
	rules  map[string][]string
}

// parseSaved reads iptables-save output into its tables. It only needs the
// chain list and rules, and trusts the format iptables-save writes.
func parseSaved(out string) map[string]*savedTable {
	return parseSavedSkipping(out, nil)
}

// parseSavedSkipping is parseSaved that keeps no rules of the chains skip
// reports, if skip is not nil.
func parseSavedSkipping(out string, skip func(chain string) bool) map[string]*savedTable {
	tables := map[string]*savedTable{}
	var cur *savedTable
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "*"):
			cur = &savedTable{rules: map[string][]string{}}
			tables[line[1:]] = cur
		case cur == nil:
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			cur.chains = append(cur.chains, name)
		case strings.HasPrefix(line, "-A "):
			chain, rule, _ := strings.Cut(line[3:], " ")
			if skip == nil || !skip(chain) {
				cur.rules[chain] = append(cur.rules[chain], rule)
			}
		}
	}
	return tables
}

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

// builtinOrder lists the chains iptables creates itself, which no restore
// may flush or delete, in a fixed order for deterministic payloads.
var builtinOrder = []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// builtinChains is builtinOrder as a set.
var builtinChains = map[string]bool{
	"PREROUTING": true, "INPUT": true, "FORWARD": true, "OUTPUT": true, "POSTROUTING": true,
}
