package iptables

import (
	"net/netip"
	"strconv"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// policyChain renders a KUBE-SVC- or KUBE-SVL- chain, which picks one of
// eps. If it is the chain cluster IP traffic goes to, it first marks that
// traffic for masquerade where needed.
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
	// Each rule's comment names its endpoint.
	head := `-m comment --comment "` + s.name + " -> "
	if affinity {
		// A client with a live affinity record goes back to its endpoint
		// before any random choice is made.
		seconds := strconv.Itoa(int(s.sp.AffinitySeconds))
		for _, ep := range eps {
			rules = append(rules, b.withEndpoint(head, ep, `" -m recent --name `, prefixSEP, ep.Hash,
				" --rcheck --seconds ", seconds, " --reap -j ", prefixSEP, ep.Hash))
		}
	}
	probs := b.probabilities(n)
	for i, ep := range eps {
		if i == n-1 {
			rules = append(rules, b.withEndpoint(head, ep, `" -j `, prefixSEP, ep.Hash))
			break
		}
		rules = append(rules, b.withEndpoint(head, ep, `" -m statistic --mode random --probability `, probs[i], " -j ", prefixSEP, ep.Hash))
	}
	return Chain{Name: name, Rules: rules}
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

// endpointChain renders a KUBE-SEP- chain, which DNATs to one endpoint.
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
	rules[0] = b.withIP(s.hairpinHead, ep.IP, " -j ", chainMarkMasq)
	if s.sp.AffinitySeconds > 0 {
		rules[1] = b.withEndpoint(s.comment+" -m recent --name "+name+" --set "+s.proto+" -j DNAT --to-destination ", ep)
	} else {
		rules[1] = b.withEndpoint(s.dnatHead, ep)
	}
	return Chain{Name: name, Rules: rules}
}

// withEndpoint returns before, the endpoint's "IP:PORT", then after, as
// one string. Writing the address straight into a reused buffer saves a
// string per endpoint and rule, a third of all allocations at scale.
func (b *builder) withEndpoint(before string, ep model.Endpoint, after ...string) string {
	buf := append(b.buf[:0], before...)
	buf = netip.AddrPortFrom(ep.IP, ep.Port).AppendTo(buf)
	return b.toString(buf, after)
}

// withIP is withEndpoint for a bare address.
func (b *builder) withIP(before string, ip netip.Addr, after ...string) string {
	buf := append(b.buf[:0], before...)
	buf = ip.AppendTo(buf)
	return b.toString(buf, after)
}

// toString appends after to buf and returns the result, keeping buf for
// the next rule.
func (b *builder) toString(buf []byte, after []string) string {
	for _, a := range after {
		buf = append(buf, a...)
	}
	b.buf = buf
	return string(buf)
}
