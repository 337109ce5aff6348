package iptables

import (
	"github.com/svcproxy/svcproxy/pkg/model"
)

// Render returns the rules that implement m. It only reads m.
func Render(m *model.Model) *Ruleset {
	b := newBuilder(m, m.Services)
	for _, sp := range m.Services {
		s := newServiceInfo(sp)
		b.dispatch(s)
		b.chains(s)
	}
	rs := b.ruleset()
	return rs
}

// ruleset returns the tables built so far.
func (b *builder) ruleset() *Ruleset {
	return &Ruleset{
		Family: b.m.Family,
		Tables: []Table{b.filterTable(), b.natTable()},
		model:  b.m,
	}
}

// builder collects rules while Render walks the model. Fixed chains get a
// field each, so rules for them can be appended in any step; per-service
// chains are appended whole, in model order.
type builder struct {
	m *model.Model
	// mark is the masquerade mark, "0x4000"; markMask is "0x4000/0x4000".
	mark, markMask string

	natServices    []string
	natNodePorts   []string
	filterServices []string
	filterExternal []string
	filterNodePort []string
	filterFirewall []string

	natChains []Chain
	// sepRules backs the two rules of every KUBE-SEP- chain, allocated
	// at once rather than one small slice per endpoint.
	sepRules []string
	// endpointComments is false above largeClusterEndpoints.
	endpointComments bool
	// buf is reused to build rules that contain an address.
	buf []byte
	// probs caches probability lists by endpoint count; it is only
	// looked up, never iterated, so it cannot make output order vary.
	probs map[int][]string
	// lastHealthCheck avoids one ACCEPT rule per port of a Service: all
	// ports of a Service share its health check node port, and the model
	// lists ports of one Service next to each other.
	lastHealthCheck string
}

// newBuilder returns a builder for m with room for the chains of the
// ports in chained, which are all of m's for a full render.
func newBuilder(m *model.Model, chained []*model.ServicePort) *builder {
	mark := m.Config.MasqueradeMarkHex()
	n := len(m.Services)
	// Capacity for the per-service chains: up to four per port plus one
	// KUBE-SEP- per endpoint that may be its own client.
	seps := 0
	for _, sp := range chained {
		for _, ep := range sp.ClusterEndpoints {
			if m.MayHairpin(sp, ep) {
				seps++
			}
		}
		seps += len(sp.LocalEndpoints)
	}
	return &builder{
		m:                m,
		mark:             mark,
		markMask:         mark + "/" + mark,
		natServices:      make([]string, 0, n+1),
		natChains:        make([]Chain, 0, 4*len(chained)+seps),
		sepRules:         make([]string, 2*seps),
		endpointComments: endpointComments(m),
		probs:            map[int][]string{},
	}
}

// endpointComments reports whether m is small enough for the
// per-endpoint rules to carry comments (see largeClusterEndpoints).
func endpointComments(m *model.Model) bool {
	eps := 0
	for _, sp := range m.Services {
		eps += len(sp.ClusterEndpoints) + len(sp.LocalEndpoints)
	}
	return eps <= largeClusterEndpoints
}

// serviceInfo holds what every rule of one service port spells the same
// way, computed once, and which of its chains exist.
type serviceInfo struct {
	sp *model.ServicePort
	// name is "ns/svc:port", the start of every comment.
	name string
	// pickComment starts the comment of a pick rule, up to the
	// endpoint's address; sepComment, the comment match that names just
	// the port and a space, starts the rules of KUBE-SEP- chains. Both
	// are empty above largeClusterEndpoints. They and dnatHead are set
	// by prepareChains.
	pickComment, sepComment string
	// dnatHead is a DNAT rule's end up to the endpoint's address.
	dnatHead string
	proto    string
	port     string
	// Chain names.
	svc, svl, ext, fw string
	// hasExtEndpoints is true when external traffic from outside the node
	// has endpoints. KUBE-EXT- exists whenever the port has any endpoint,
	// even when this is false, because pods and the node itself
	// short-circuit to the cluster endpoints under the Local policy; what
	// falls through it unDNATed is then refused in filter.
	hasExtEndpoints bool
	// A chain exists only when it has endpoints to send traffic to (an
	// empty KUBE-SVC chain would let traffic fall through unDNATed, and
	// REJECT is not allowed in the nat table, so traffic without endpoints
	// is refused in the filter table instead) and something jumps to it.
	hasSVC, hasSVL, hasEXT, hasFW bool
}

func newServiceInfo(sp *model.ServicePort) *serviceInfo {
	s := &serviceInfo{
		sp:    sp,
		name:  commentName(sp.Name),
		proto: protoMatch(sp.Name.Protocol),
		port:  port(sp.Port),
		svc:   prefixSVC + sp.Hash,
		svl:   prefixSVL + sp.Hash,
		ext:   prefixEXT + sp.Hash,
		fw:    prefixFW + sp.Hash,
	}
	s.hasEXT = sp.ExternallyAccessible() && sp.HasEndpoints
	s.hasExtEndpoints = len(sp.ExternalEndpoints()) > 0
	s.hasFW = s.hasEXT && sp.Firewall && len(sp.LoadBalancerIPs) > 0
	// A policy chain is rendered only if something jumps to it: the
	// cluster IP rule or the EXT chain (which, under the Local policy,
	// short-circuits pod and node traffic to the cluster chain).
	s.hasSVC = len(sp.ClusterEndpoints) > 0 && sp.UsesClusterEndpoints() &&
		(!sp.InternalPolicyLocal || s.hasEXT)
	s.hasSVL = len(sp.LocalEndpoints) > 0 && sp.UsesLocalEndpoints() &&
		(sp.InternalPolicyLocal || (s.hasExtEndpoints && sp.ExternalPolicyLocal))
	return s
}

// prepareChains computes the rule heads of the port's chains. A partial
// render needs only the dispatch rules of most ports, so they are left
// out of newServiceInfo: at 10,000 Services they were half its
// allocations.
func (s *serviceInfo) prepareChains(comments bool) {
	if comments {
		s.pickComment = `-m comment --comment "` + s.name + " -> "
		s.sepComment = comment(s.name) + " "
	}
	s.dnatHead = "-p " + string(s.sp.Name.Protocol) + " -j DNAT --to-destination "
}

// endpoints returns the endpoints the rendered policy chains can pick.
func (s *serviceInfo) endpoints() []model.Endpoint {
	switch {
	case s.hasSVC && s.hasSVL:
		return s.sp.AllEndpoints()
	case s.hasSVC:
		return s.sp.ClusterEndpoints
	case s.hasSVL:
		return s.sp.LocalEndpoints
	}
	return nil
}

// internalChain is the chain that traffic to the cluster IP goes to.
func (s *serviceInfo) internalChain() string {
	if s.sp.InternalPolicyLocal {
		return s.svl
	}
	return s.svc
}

// refusal returns how traffic that finds no endpoint is refused: REJECT,
// so that clients fail at once, when the service has no endpoints at all;
// DROP when endpoints exist but the traffic policy excludes them all, as
// kube-proxy does, since the client's node is then the one at fault.
func (s *serviceInfo) refusal() (why, target string) {
	if !s.sp.HasEndpoints {
		return " has no endpoints", "REJECT"
	}
	return " has no local endpoints", "DROP"
}

// dispatch renders what one service port adds to the fixed chains: the
// rules that recognise its destinations.
func (b *builder) dispatch(s *serviceInfo) {
	b.clusterIP(s)
	b.externalDestinations(s)
	b.nodePort(s)
	b.healthCheck(s)
}

// chains renders the chains of one service port. They are declared in a
// fixed order: SVC, SVL, EXT, FW, then one SEP per endpoint that may be
// its own client.
func (b *builder) chains(s *serviceInfo) {
	s.prepareChains(b.endpointComments)
	if s.hasSVC {
		b.natChains = append(b.natChains, b.policyChain(s, s.svc, s.sp.ClusterEndpoints))
	}
	if s.hasSVL {
		b.natChains = append(b.natChains, b.policyChain(s, s.svl, s.sp.LocalEndpoints))
	}
	if s.hasEXT {
		b.natChains = append(b.natChains, b.externalChain(s))
	}
	if s.hasFW {
		b.natChains = append(b.natChains, b.firewallChain(s))
	}
	for _, ep := range s.endpoints() {
		if b.m.MayHairpin(s.sp, ep) {
			b.natChains = append(b.natChains, b.endpointChain(s, ep))
		}
	}
}

// natTable returns the nat table: fixed chains first, in a fixed order,
// then the per-service chains.
func (b *builder) natTable() Table {
	services := append(b.natServices, b.nodePortsJumps()...)
	chains := []Chain{
		{Name: chainServices, Rules: services},
		{Name: chainNodePorts, Rules: b.natNodePorts},
		{Name: chainPostrouting, Rules: b.postroutingRules()},
		{Name: chainMarkMasq, Rules: b.markMasqRules()},
	}
	if nonPod := b.markMasqNonPodRules(); nonPod != nil {
		chains = append(chains, Chain{Name: chainMarkMasqNonPod, Rules: nonPod})
	}
	all := make([]Chain, 0, len(chains)+len(b.natChains))
	all = append(append(all, chains...), b.natChains...)
	return Table{Name: "nat", Chains: all, Jumps: natJumps()}
}

// filterTable returns the filter table, whose chains are all fixed.
func (b *builder) filterTable() Table {
	chains, jumps := b.localnetFirewall()
	chains = append(chains,
		Chain{Name: chainServices, Rules: b.filterServices},
		Chain{Name: chainExternalServices, Rules: b.filterExternal},
		Chain{Name: chainNodePorts, Rules: b.filterNodePort},
		Chain{Name: chainProxyFirewall, Rules: b.filterFirewall},
		Chain{Name: chainForward, Rules: b.forwardRules()},
	)
	return Table{Name: "filter", Chains: chains, Jumps: append(jumps, filterJumps()...)}
}
