package iptables

import (
	"github.com/svcproxy/svcproxy/pkg/model"
)

// partial is a model rendered in part, for a delta: the fixed chains,
// which gather every service port's destinations, whole, and the
// per-service chains of some ports only.
type partial struct {
	// fixed holds the tables of Render's ruleset with only their fixed
	// chains, each exactly as Render gives it.
	fixed *Ruleset
	// ports holds, for each port asked for and in the same order, the
	// nat chains Render gives that port, in Render's order.
	ports [][]Chain
}

// renderPartial renders m as Render does, but the per-service chains only
// of ports, which must be ports of m in m's order; it reports false when
// they are not. The fixed chains cost one short rule or so per port; the
// per-service chains are most of the rules, so rendering only those of
// the ports that changed makes a one-port change cost a small part of a
// full render.
func renderPartial(m *model.Model, ports []*model.ServicePort) (*partial, bool) {
	b := newBuilder(m, ports)
	ends := make([]int, 0, len(ports))
	next := 0
	for _, sp := range m.Services {
		s := newServiceInfo(sp)
		b.dispatch(s)
		if next < len(ports) && ports[next] == sp {
			b.chains(s)
			ends = append(ends, len(b.natChains))
			next++
		}
	}
	if next != len(ports) {
		return nil, false
	}
	portChains := b.natChains
	b.natChains = nil
	return &partial{fixed: b.ruleset(), ports: splitAt(portChains, ends)}, true
}

// renderPorts returns the nat chains Render(m) gives each of ports, ports
// of m, without the fixed chains.
func renderPorts(m *model.Model, ports []*model.ServicePort) [][]Chain {
	b := newBuilder(m, ports)
	ends := make([]int, 0, len(ports))
	for _, sp := range ports {
		b.chains(newServiceInfo(sp))
		ends = append(ends, len(b.natChains))
	}
	return splitAt(b.natChains, ends)
}

// splitAt cuts chains before each end, for a port whose chains end there.
func splitAt(chains []Chain, ends []int) [][]Chain {
	out := make([][]Chain, len(ends))
	start := 0
	for k, end := range ends {
		out[k] = chains[start:end:end]
		start = end
	}
	return out
}

// compatible reports whether a service port renders the same in prev and
// next: they have the same context (model.SameContext), and both are on
// the same side of largeClusterEndpoints. Only then are the chains of a
// port that both share the same in both renders, which is what lets a
// delta keep them without rendering them.
func compatible(prev, next *model.Model) bool {
	return model.SameContext(prev, next) && endpointComments(prev) == endpointComments(next)
}
