package model

import (
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"
)

// NodeFromObject returns the Node of a Node object: its name, the
// InternalIP entries of status.addresses and then its ExternalIP entries,
// each in their order (duplicates dropped), and the v1.LabelTopologyZone
// label. InternalIPs come first because the first address of a family is
// the node's primary one (Node.Primary), as kube-proxy picks it. An
// address that does not parse is left out, with a Warning.
func NodeFromObject(n *v1.Node) (Node, []Warning) {
	if n == nil {
		return Node{}, nil
	}
	node := Node{Name: n.Name, Zone: n.Labels[v1.LabelTopologyZone]}
	var warn warnings
	for _, typ := range []v1.NodeAddressType{v1.NodeInternalIP, v1.NodeExternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type != typ {
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
	}
	node.PodCIDRs = podCIDRsOf(n, &warn)
	return node, warn
}

// podCIDRsOf reads the node's spec.podCIDRs, or spec.podCIDR where only
// that is set.
func podCIDRsOf(n *v1.Node, warn *warnings) []netip.Prefix {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			warn.add("Node", n.Name, "ignoring pod CIDR %q: %v", c, err)
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

// Primary returns the node's primary address of fam: its first address
// of that family.
func (n Node) Primary(fam Family) (netip.Addr, bool) {
	for _, ip := range n.IPs {
		if FamilyOf(ip) == fam {
			return ip, true
		}
	}
	return netip.Addr{}, false
}
