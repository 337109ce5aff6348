package iptables

import "strings"

// fixedChains are the chains every svcproxy ruleset may declare.
var fixedChains = []string{
	chainServices, chainNodePorts, chainPostrouting, chainMarkMasq, chainMarkMasqNonPod,
	chainExternalServices, chainProxyFirewall, chainForward,
}

// servicePrefixes start the names of per-service and per-endpoint chains.
var servicePrefixes = []string{prefixSVC, prefixSVL, prefixEXT, prefixFW, prefixSEP}

// Owned reports whether a chain of this name belongs to svcproxy: an
// applier may flush and delete it when no ruleset declares it any more,
// and cleanup removes it. The names are kube-proxy's, so a node that ran
// kube-proxy is taken over chain by chain.
func Owned(chain string) bool {
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

// DispatchJump is the jump from nat PREROUTING into svcproxy's service
// dispatch. It is present exactly when svcproxy's rules are in place, so
// it is what a check for rules flushed by another program looks for.
func DispatchJump() Jump { return natJumps()[0] }

// Args splits a rendered rule into the arguments iptables takes, keeping
// a quoted comment as one argument without its quotes. Rendered comments
// never contain quotes, so no escaping is needed.
func Args(rule string) []string {
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
