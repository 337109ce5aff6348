package iptables

import "strings"

// fixedChains are the chains every svcproxy ruleset may declare.
var fixedChains = []string{
	chainServices, chainNodePorts, chainPostrouting, chainMarkMasq, chainMarkMasqNonPod,
	chainExternalServices, chainProxyFirewall, chainForward,
}

// servicePrefixes start the names of per-service and per-endpoint chains.
var servicePrefixes = []string{prefixSVC, prefixSVL, prefixEXT, prefixFW, prefixSEP}

// owned reports whether a chain of this name belongs to svcproxy: a
// restore may flush and delete it when no ruleset declares it any more,
// and cleanup removes it. The names are kube-proxy's, so a node that ran
// kube-proxy is taken over chain by chain.
func owned(chain string) bool {
	for _, c := range fixedChains {
		if chain == c {
			return true
		}
	}
	for _, p := range servicePrefixes {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}

// Canary is the rule whose presence proves svcproxy's rules are in place:
// the jump from nat PREROUTING into the service dispatch, which every
// ruleset has and which anything that flushes svcproxy's rules removes.
type Canary struct {
	Table, Chain string
	// Rule is the rule's arguments, as `iptables -C Chain` takes them.
	Rule []string
}

// NewCanary returns the canary of every ruleset.
func NewCanary() Canary {
	jump := natJumps()[0]
	return Canary{Table: "nat", Chain: jump.Chain, Rule: args(jump.Rule)}
}

// args splits a rendered rule into the arguments iptables takes, keeping
// a quoted comment as one argument without its quotes. Rendered comments
// never contain quotes, so no escaping is needed.
func args(rule string) []string {
	var out []string
	for {
		rule = strings.TrimLeft(rule, " ")
		if rule == "" {
			return out
		}
		if rest, ok := strings.CutPrefix(rule, `"`); ok {
			word, after, _ := strings.Cut(rest, `"`)
			out = append(out, word)
			rule = after
			continue
		}
		word, rest, _ := strings.Cut(rule, " ")
		out = append(out, word)
		rule = rest
	}
}
