package iptables

import (
	"fmt"
	"reflect"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Partial is a model rendered in part, for a sync that sends only what
// changed: the fixed chains, which gather every service port's
// destinations, whole, and the per-service chains of some ports only.
type Partial struct {
	// Fixed holds the tables of Render's ruleset with only their fixed
	// chains, each exactly as Render gives it.
	Fixed *Ruleset
	// Ports holds, for each port asked for and in the same order, the
	// nat chains Render gives that port, in Render's order.
	Ports [][]Chain
}

// RenderPartial renders m as Render does, but the per-service chains only
// of the service ports at the indices ports, which must be ascending. The
// fixed chains cost one short rule or so per port; the per-service chains
// are most of the rules, so rendering only those of the ports that changed
// makes a one-port change cost a small part of a full render. It only
// reads m.
func RenderPartial(m *model.Model, ports []int) (*Partial, error) {
	chained, err := portsAt(m, ports)
	if err != nil {
		return nil, err
	}
	b := newBuilder(m, chained)
	ends := make([]int, 0, len(ports))
	next := 0
	for i, sp := range m.Services {
		s := newServiceInfo(sp)
		b.dispatch(s)
		if next < len(ports) && ports[next] == i {
			b.chains(s)
			ends = append(ends, len(b.natChains))
			next++
		}
	}
	portChains := b.natChains
	b.natChains = nil
	return &Partial{Fixed: b.ruleset(), Ports: splitAt(portChains, ends)}, nil
}

// RenderPorts returns the nat chains Render(m) gives the service ports at
// the indices ports (ascending), port by port, without the fixed chains.
// It only reads m.
func RenderPorts(m *model.Model, ports []int) ([][]Chain, error) {
	chained, err := portsAt(m, ports)
	if err != nil {
		return nil, err
	}
	b := newBuilder(m, chained)
	ends := make([]int, 0, len(ports))
	for _, sp := range chained {
		b.chains(newServiceInfo(sp))
		ends = append(ends, len(b.natChains))
	}
	return splitAt(b.natChains, ends), nil
}

// portsAt returns the ports of m at the indices ports, which must be
// ascending and in range: a partial render pairs them with the model's
// order.
func portsAt(m *model.Model, ports []int) ([]*model.ServicePort, error) {
	out := make([]*model.ServicePort, len(ports))
	for k, i := range ports {
		if i < 0 || i >= len(m.Services) || (k > 0 && i <= ports[k-1]) {
			return nil, fmt.Errorf("rendering ports %v of %d: indices must be ascending and in range", ports, len(m.Services))
		}
		out[k] = m.Services[i]
	}
	return out, nil
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

// Compatible reports whether a service port renders the same in prev and
// next: their family, node and configuration are the same, and both are
// on the same side of largeClusterEndpoints. Only then are the chains of
// a port that both share the same in both renders, which is what lets an
// incremental sync keep them without rendering them.
func Compatible(prev, next *model.Model) bool {
	return prev.Family == next.Family &&
		reflect.DeepEqual(prev.Node, next.Node) &&
		reflect.DeepEqual(prev.Config, next.Config) &&
		endpointComments(prev) == endpointComments(next)
}
