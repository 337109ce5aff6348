package manifest

import (
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// NodeFromObject returns the model.Node of a Node object: its name, the
// InternalIP and ExternalIP entries of status.addresses in their order
// (duplicates dropped) and the v1.LabelTopologyZone label. An address that does not
// parse is left out, with a Warning.
func NodeFromObject(n *v1.Node) (model.Node, []model.Warning) {
	if n == nil {
		return model.Node{}, nil
	}
	node := model.Node{Name: n.Name, Zone: n.Labels[v1.LabelTopologyZone]}
	var warns []model.Warning
	for _, a := range n.Status.Addresses {
		if a.Type != v1.NodeInternalIP && a.Type != v1.NodeExternalIP {
			continue
		}
		ip, err := model.ParseIP(a.Address)
		if err != nil {
			warns = append(warns, model.Warning{
				Kind:   "Node",
				Object: n.Name,
				Reason: fmt.Sprintf("ignoring %s address: %v", a.Type, err),
			})
			continue
		}
		if !slices.Contains(node.IPs, ip) {
			node.IPs = append(node.IPs, ip)
		}
	}
	return node, warns
}
