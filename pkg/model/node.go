package model

import (
	"slices"

	v1 "k8s.io/api/core/v1"
)

// NodeFromObject returns the Node of a Node object: its name, the
// InternalIP and ExternalIP entries of status.addresses in their order
// (duplicates dropped) and the v1.LabelTopologyZone label. An address that
// does not parse is left out, with a Warning.
func NodeFromObject(n *v1.Node) (Node, []Warning) {
	if n == nil {
		return Node{}, nil
	}
	node := Node{Name: n.Name, Zone: n.Labels[v1.LabelTopologyZone]}
	var warn warnings
	for _, a := range n.Status.Addresses {
		if a.Type != v1.NodeInternalIP && a.Type != v1.NodeExternalIP {
			continue
		}
		ip, err := ParseIP(a.Address)
		if err != nil {
			warn.add("Node", n.Name, "ignoring %s address: %v", a.Type, err)
			continue
		}
		if !slices.Contains(node.IPs, ip) {
			node.IPs = append(node.IPs, ip)
		}
	}
	return node, warn
}
