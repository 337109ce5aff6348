package model

import "slices"

// PortChange is a Service port that differs between two models: Old is
// nil for an added port, New for a removed one.
type PortChange struct {
	Old, New *ServicePort
}

// ChangedPorts pairs the ports of two models by name, both lists in model
// order, and returns those that differ, in that order. A port with the
// same pointer in both is unchanged without a look: the Builder keeps the
// pointer of every Service that did not change. Other pairs are compared
// field by field, so models built separately work too, only slower. Lists
// out of order, or with a name twice, make the pairing meaningless, and
// ChangedPorts reports false.
//
// This is the one notion of "changed" incremental syncs use: both
// renderers turn exactly these ports into a delta.
func ChangedPorts(prev, next []*ServicePort) ([]PortChange, bool) {
	if !PortsInOrder(prev) || !PortsInOrder(next) {
		return nil, false
	}
	var out []PortChange
	i, j := 0, 0
	for i < len(prev) || j < len(next) {
		c := 0
		switch {
		case j == len(next):
			c = -1
		case i == len(prev):
			c = 1
		case prev[i] != next[j]:
			c = prev[i].Name.Compare(next[j].Name)
		}
		switch {
		case c < 0:
			out = append(out, PortChange{Old: prev[i]})
			i++
		case c > 0:
			out = append(out, PortChange{New: next[j]})
			j++
		default:
			if !SamePort(prev[i], next[j]) {
				out = append(out, PortChange{Old: prev[i], New: next[j]})
			}
			i++
			j++
		}
	}
	return out, true
}

// SamePort reports whether two ports are equal in every field, whether or
// not a renderer reads it: comparing more than needed only makes a no-op
// change cost a render of the port, comparing less would miss one.
// TestSamePortComparesEveryField keeps this list complete.
func SamePort(a, b *ServicePort) bool {
	if a == b {
		return true
	}
	return a.Name == b.Name && a.Hash == b.Hash && a.ClusterIP == b.ClusterIP && a.Port == b.Port &&
		a.NodePort == b.NodePort && slices.Equal(a.ExternalIPs, b.ExternalIPs) &&
		slices.Equal(a.LoadBalancerIPs, b.LoadBalancerIPs) && slices.Equal(a.SourceRanges, b.SourceRanges) &&
		a.Firewall == b.Firewall && a.ExternalPolicyLocal == b.ExternalPolicyLocal &&
		a.InternalPolicyLocal == b.InternalPolicyLocal && a.HealthCheckNodePort == b.HealthCheckNodePort &&
		a.AffinitySeconds == b.AffinitySeconds && a.HasEndpoints == b.HasEndpoints &&
		slices.EqualFunc(a.ClusterEndpoints, b.ClusterEndpoints, sameEndpoint) &&
		slices.EqualFunc(a.LocalEndpoints, b.LocalEndpoints, sameEndpoint) &&
		slices.Equal(a.OtherServing, b.OtherServing)
}

func sameEndpoint(a, b Endpoint) bool {
	return a.IP == b.IP && a.Port == b.Port && a.Hash == b.Hash && a.NodeName == b.NodeName &&
		a.Zone == b.Zone && a.Local == b.Local && a.Ready == b.Ready && a.Serving == b.Serving &&
		a.Terminating == b.Terminating && slices.Equal(a.ZoneHints, b.ZoneHints) &&
		slices.Equal(a.NodeHints, b.NodeHints)
}

// SameContext reports whether two models render a port alike: the same
// family, node and configuration. Anything else reaches shared chains or
// every port's rules, which only a full render rewrites.
// TestSameContextComparesEveryField keeps this list complete.
func SameContext(a, b *Model) bool {
	return a.Family == b.Family && a.Node.Name == b.Node.Name && a.Node.Zone == b.Node.Zone &&
		slices.Equal(a.Node.IPs, b.Node.IPs) && slices.Equal(a.Node.LocalIPs, b.Node.LocalIPs) &&
		(a.Node.LocalIPs == nil) == (b.Node.LocalIPs == nil) && slices.Equal(a.Config.ClusterCIDRs, b.Config.ClusterCIDRs) &&
		slices.Equal(a.Node.PodCIDRs, b.Node.PodCIDRs) && a.Config.DetectLocalNodeCIDR == b.Config.DetectLocalNodeCIDR &&
		a.Config.PodInterface == b.Config.PodInterface && a.Config.PodInterfacePrefix == b.Config.PodInterfacePrefix &&
		a.Config.MasqueradeBit == b.Config.MasqueradeBit && a.Config.MasqueradeAll == b.Config.MasqueradeAll &&
		slices.Equal(a.Config.NodePortAddresses, b.Config.NodePortAddresses) &&
		a.Config.NodePortPrimary == b.Config.NodePortPrimary && a.Config.LocalhostNodePorts == b.Config.LocalhostNodePorts &&
		a.Config.NFAcctCounters == b.Config.NFAcctCounters &&
		a.Config.NodePortRange == b.Config.NodePortRange && a.Config.TCPBeLiberal == b.Config.TCPBeLiberal &&
		slices.Equal(a.Config.ExternalIPCIDRs, b.Config.ExternalIPCIDRs) && slices.Equal(a.ServiceCIDRs, b.ServiceCIDRs)
}
