package model

import (
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"
)

// Topology modes: the trafficDistribution value whose hints select each
// mode, or none.
const (
	topologyNone     = ""
	topologySameZone = v1.ServiceTrafficDistributionPreferSameZone
	topologySameNode = v1.ServiceTrafficDistributionPreferSameNode
)

// categorize chooses sp's endpoints the way kube-proxy does.
//
// Cluster traffic goes to ready endpoints, narrowed by topology hints when
// they apply; if none is ready anywhere it falls back to endpoints that are
// serving but terminating, so a rolling update does not drop connections.
// Local traffic goes to this node's ready endpoints, else to its serving,
// terminating ones. Non-serving endpoints are never used.
func categorize(sp *ServicePort, eps []Endpoint, node Node) {
	for i := range eps {
		eps[i].Hash = EndpointHash(sp.Name, eps[i])
	}
	if sp.UsesClusterEndpoints() {
		mode := topologyMode(eps, node)
		sp.ClusterEndpoints = filter(eps, func(ep Endpoint) bool {
			return ep.Ready && availableForTopology(ep, mode, node)
		})
		if len(sp.ClusterEndpoints) == 0 {
			sp.ClusterEndpoints = filter(eps, func(ep Endpoint) bool { return ep.Serving && ep.Terminating })
		}
		sp.HasEndpoints = len(sp.ClusterEndpoints) > 0
	}
	if !sp.UsesLocalEndpoints() {
		return
	}
	localReady := filter(eps, func(ep Endpoint) bool { return ep.Local && ep.Ready })
	if len(localReady) > 0 {
		sp.LocalEndpoints = localReady
	} else {
		sp.LocalEndpoints = filter(eps, func(ep Endpoint) bool { return ep.Local && ep.Serving && ep.Terminating })
	}
	if slices.ContainsFunc(eps, func(ep Endpoint) bool { return ep.Ready || (ep.Serving && ep.Terminating) }) {
		sp.HasEndpoints = true
	}
}

// keepOtherServing records, for a UDP port, its serving endpoints that
// categorize chose for no traffic.
func keepOtherServing(sp *ServicePort, eps []Endpoint) {
	if sp.Name.Protocol != UDP {
		return
	}
	chosen := map[netip.AddrPort]bool{}
	for _, ep := range sp.AllEndpoints() {
		chosen[netip.AddrPortFrom(ep.IP, ep.Port)] = true
	}
	for _, ep := range eps {
		if ap := netip.AddrPortFrom(ep.IP, ep.Port); ep.Serving && !chosen[ap] {
			sp.OtherServing = append(sp.OtherServing, ap)
		}
	}
}

// topologyMode decides whether hints narrow the cluster endpoints. Hints
// are used only when every ready endpoint carries them (a half-hinted slice
// is mid-update) and at least one is meant for this node or zone;
// otherwise traffic goes everywhere rather than nowhere.
func topologyMode(eps []Endpoint, node Node) string {
	allNode, anyForNode := true, false
	allZone, anyForZone := true, false
	for _, ep := range eps {
		if !ep.Ready {
			continue
		}
		if len(ep.NodeHints) == 0 {
			allNode = false
		} else if node.Name != "" && slices.Contains(ep.NodeHints, node.Name) {
			anyForNode = true
		}
		if len(ep.ZoneHints) == 0 {
			allZone = false
		} else if node.Zone != "" && slices.Contains(ep.ZoneHints, node.Zone) {
			anyForZone = true
		}
	}
	switch {
	case allNode && anyForNode:
		return topologySameNode
	case allZone && anyForZone:
		return topologySameZone
	}
	return topologyNone
}

func availableForTopology(ep Endpoint, mode string, node Node) bool {
	switch mode {
	case topologySameNode:
		return slices.Contains(ep.NodeHints, node.Name)
	case topologySameZone:
		return slices.Contains(ep.ZoneHints, node.Zone)
	}
	return true
}

// filter returns the endpoints of eps that keep accepts, nil if none.
func filter(eps []Endpoint, keep func(Endpoint) bool) []Endpoint {
	n := 0
	for _, ep := range eps {
		if keep(ep) {
			n++
		}
	}
	switch n {
	case 0:
		return nil
	case len(eps):
		// Most ports use every endpoint they have. Sharing eps, which
		// is the port's own and read-only from here on, saves a copy of
		// every endpoint list in the model (at 100,000 endpoints, 19 MB
		// of copies with append's slack).
		return eps
	}
	out := make([]Endpoint, 0, n)
	for _, ep := range eps {
		if keep(ep) {
			out = append(out, ep)
		}
	}
	return out
}
