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
