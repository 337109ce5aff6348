package iptables

import (
	"net/netip"
	"strconv"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// largeClusterEndpoints is the number of endpoints above which the
// per-endpoint rules (the picks in KUBE-SVC-/KUBE-SVL- and the rules of
// KUBE-SEP-), and the cluster IP rules every service port has in
// KUBE-SERVICES and its KUBE-SVC- chain, carry no comment; kube-proxy
// drops its per-endpoint comments above the same number. A comment match
// takes 256 bytes of kernel memory per rule, which an iptables-legacy
// restore copies out of the kernel and back however small it is; at
// 100,000 endpoints dropping them saves a tenth of every restore. The
// rules still name their endpoint in their DNAT target or KUBE-SEP- jump,
// and their service in their chain name and cluster IP.
const largeClusterEndpoints = 1000

// policyChain renders a KUBE-SVC- or KUBE-SVL- chain, which picks one of
// eps. If it is the chain cluster IP traffic goes to, it first marks that
// traffic for masquerade where needed. An endpoint that cannot be its own
// client is DNATed by its pick rule; the others go through their
// KUBE-SEP- chain for the hairpin check.
func (b *builder) policyChain(s *serviceInfo, name string, eps []model.Endpoint) Chain {
	n := len(eps)
	size := n + 1
	affinity := s.sp.AffinitySeconds > 0
	if affinity {
		size += n
	}
	rules := make([]string, 0, size)
	if name == s.internalChain() {
		if r := b.clusterIPMasqRule(s); r != "" {
			rules = append(rules, r)
		}
	}
	if affinity {
		// A client with a live affinity record goes back to its endpoint
		// before any random choice is made.
		check := " --rcheck --seconds " + strconv.Itoa(int(s.sp.AffinitySeconds)) + " --reap "
		for _, ep := range eps {
			rules = append(rules, b.pickRule(s, ep, "-m recent --name ", prefixSEP, ep.Hash, check))
		}
	}
	probs := b.probabilities(n)
	for i, ep := range eps {
		if i == n-1 {
			rules = append(rules, b.pickRule(s, ep))
			break
		}
		rules = append(rules, b.pickRule(s, ep, "-m statistic --mode random --probability ", probs[i], " "))
	}
	return Chain{Name: name, Rules: rules}
}

// pickRule returns a rule of a policy chain that sends traffic matching
// match (words ending in a space, or none) to ep: a jump to ep's
// KUBE-SEP- chain where a hairpin is possible, else ep's DNAT, after
// recording the client for session affinity if the port has it.
func (b *builder) pickRule(s *serviceInfo, ep model.Endpoint, match ...string) string {
	buf := b.buf[:0]
	if b.endpointComments {
		buf = append(buf, s.pickComment...)
		buf = netip.AddrPortFrom(ep.IP, ep.Port).AppendTo(buf)
		buf = append(buf, `" `...)
	}
	for _, m := range match {
		buf = append(buf, m...)
	}
	if b.m.MayHairpin(s.sp, ep) {
		buf = append(buf, "-j "+prefixSEP...)
		buf = append(buf, ep.Hash...)
		return b.keep(buf)
	}
	return b.keep(b.appendDNAT(buf, s, ep))
}

// appendDNAT appends the rule end that DNATs to ep, recording the client
// in ep's affinity list first if the port has session affinity. The list
// is named after ep's KUBE-SEP- chain, as kube-proxy names it. DNAT needs
// -p for the port; it needs no protocol match module.
func (b *builder) appendDNAT(buf []byte, s *serviceInfo, ep model.Endpoint) []byte {
	if s.sp.AffinitySeconds > 0 {
		buf = append(buf, "-m recent --name "+prefixSEP...)
		buf = append(buf, ep.Hash...)
		buf = append(buf, " --set "...)
	}
	buf = append(buf, s.dnatHead...)
	return netip.AddrPortFrom(ep.IP, ep.Port).AppendTo(buf)
}

// probabilities returns the probabilities of the first n-1 rules of a
// chain choosing among n endpoints. They are cached by n: most services
// have few endpoints, so a handful of lists serve a whole cluster.
func (b *builder) probabilities(n int) []string {
	if p, ok := b.probs[n]; ok {
		return p
	}
	p := make([]string, max(n-1, 0))
	for i := range p {
		p[i] = probability(i, n)
	}
	b.probs[n] = p
	return p
}

// endpointChain renders a KUBE-SEP- chain, which DNATs to one endpoint
// that may be its own client.
func (b *builder) endpointChain(s *serviceInfo, ep model.Endpoint) Chain {
	name := prefixSEP + ep.Hash
	if len(b.sepRules) < 2 {
		b.sepRules = make([]string, 256) // only if newBuilder's estimate was short
	}
	rules := b.sepRules[:2:2]
	b.sepRules = b.sepRules[2:]
	// A pod that reaches itself through the service (hairpin) would get
	// its own reply from its own address and drop it; masquerading makes
	// the reply go back through the node.
	buf := append(b.buf[:0], s.sepComment...)
	buf = append(buf, "-s "...)
	buf = ep.IP.AppendTo(buf)
	buf = append(buf, " -j "+chainMarkMasq...)
	rules[0] = b.keep(buf)
	rules[1] = b.keep(b.appendDNAT(append(b.buf[:0], s.sepComment...), s, ep))
	return Chain{Name: name, Rules: rules}
}

// keep returns buf as a string and keeps buf's memory for the next rule.
// Writing addresses straight into a reused buffer saves a string per
// endpoint and rule, a third of all allocations at scale.
func (b *builder) keep(buf []byte) string {
	b.buf = buf
	return string(buf)
}
