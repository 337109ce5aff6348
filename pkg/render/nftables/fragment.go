package nftables

import (
	"reflect"
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// A fragment is what one Service port adds to the table, rendered alone
// in its model's context: a renderer holding only that port's elements
// (no hairpin set, which is shared), the chains it uses with their rules
// and own sets and maps, its claims and its endpoint addresses. Rendering
// the ports of a model one by one as fragments gives the same elements
// and chains as rendering the model whole, except where two ports claim
// one destination; Diff refuses those.
func fragmentOf(m *model.Model, sp *model.ServicePort) *renderer {
	r := newRenderer(m)
	r.addServicePort(sp)
	return r
}

// portChange is a Service port that differs between two models: old is
// nil for an added port, cur for a removed one.
type portChange struct {
	old, cur *model.ServicePort
}

// changedPorts pairs the ports of two models by name, both lists sorted
// as model.Build sorts them, and returns those that differ. A port with
// the same pointer in both is unchanged without a look: the model
// builder keeps the pointer of every Service that did not change. Other
// pairs are compared field by field, so models built separately work
// too, only slower. Lists out of order, or with a name twice, are an
// error: the pairing would be wrong.
func changedPorts(prev, next []*model.ServicePort) ([]portChange, error) {
	if !model.PortsInOrder(prev) || !model.PortsInOrder(next) {
		return nil, errUnsorted
	}
	var out []portChange
	i, j := 0, 0
	for i < len(prev) || j < len(next) {
		switch {
		case j == len(next) || (i < len(prev) && comparePorts(prev[i], next[j]) < 0):
			out = append(out, portChange{old: prev[i]})
			i++
		case i == len(prev) || comparePorts(prev[i], next[j]) > 0:
			out = append(out, portChange{cur: next[j]})
			j++
		default:
			if !samePort(prev[i], next[j]) {
				out = append(out, portChange{old: prev[i], cur: next[j]})
			}
			i++
			j++
		}
	}
	return out, nil
}

// comparePorts orders ports as model.Build does: by namespace, name,
// port name and protocol.
func comparePorts(a, b *model.ServicePort) int {
	if a == b {
		return 0
	}
	return a.Name.Compare(b.Name)
}

// samePort reports whether two ports are equal in every field, whether
// or not rendering reads it: comparing more than needed only makes a
// no-op change cost a render of the port, comparing less would miss one.
// TestSamePortComparesEveryField keeps this list complete.
func samePort(a, b *model.ServicePort) bool {
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
		slices.EqualFunc(a.LocalEndpoints, b.LocalEndpoints, sameEndpoint)
}

func sameEndpoint(a, b model.Endpoint) bool {
	return a.IP == b.IP && a.Port == b.Port && a.Hash == b.Hash && a.NodeName == b.NodeName &&
		a.Zone == b.Zone && a.Local == b.Local && a.Ready == b.Ready && a.Serving == b.Serving &&
		a.Terminating == b.Terminating && slices.Equal(a.ZoneHints, b.ZoneHints) &&
		slices.Equal(a.NodeHints, b.NodeHints)
}

// sameContext reports whether two models render their ports alike: same
// family, node and configuration. Anything else changes shared chains or
// base elements, which only a full sync rewrites.
func sameContext(a, b *model.Model) bool {
	return a.Family == b.Family && a.Node.Name == b.Node.Name && a.Node.Zone == b.Node.Zone &&
		slices.Equal(a.Node.IPs, b.Node.IPs) && slices.Equal(a.Config.ClusterCIDRs, b.Config.ClusterCIDRs) &&
		a.Config.MasqueradeBit == b.Config.MasqueradeBit && a.Config.MasqueradeAll == b.Config.MasqueradeAll &&
		slices.Equal(a.Config.NodePortAddresses, b.Config.NodePortAddresses)
}

// sameChain reports whether two renderings of a chain are identical:
// object, rules in order, and own sets and maps.
func sameChain(a, b *chain) bool {
	if len(a.rules) != len(b.rules) || len(a.owned) != len(b.owned) || !sameChainObject(a, b) {
		return false
	}
	for i := range a.rules {
		x, y := a.rules[i], b.rules[i]
		if x.Rule != y.Rule || (x.Comment == nil) != (y.Comment == nil) || (x.Comment != nil && *x.Comment != *y.Comment) {
			return false
		}
	}
	for i := range a.owned {
		// Sets and maps are small structs of strings and pointers to
		// them: DeepEqual compares what they say, not where they are.
		if !reflect.DeepEqual(a.owned[i], b.owned[i]) {
			return false
		}
	}
	return true
}

// sameChainObject compares the chain objects: regular chains made by
// ensureChain differ only by name.
func sameChainObject(a, b *chain) bool {
	return a.obj.Name == b.obj.Name && a.obj.Type == nil && b.obj.Type == nil
}
