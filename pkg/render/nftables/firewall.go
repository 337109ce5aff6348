package nftables

import (
	"net/netip"
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// firewallChain returns the per-Service chain enforcing
// loadBalancerSourceRanges, creating it on first use. Source ranges are
// rare, so a chain of plain rules per Service costs little and keeps each
// Service's ranges readable.
func (r *renderer) firewallChain(sp *model.ServicePort) string {
	name := "firewall-" + sp.Hash
	svc := sp.Name.String()
	return r.ensureChain(name, func() {
		for _, p := range sp.SourceRanges {
			r.rule(name, r.syn.ip+" saddr "+p.String()+" return", join(svc, "allowed source range"))
		}
		// When a range holds a node address, the node may reach the
		// VIP; traffic a node sends to its own VIP leaves with the VIP
		// as source, which no range lists.
		if slices.ContainsFunc(r.m.Node.IPs, func(ip netip.Addr) bool { return containsAddr(sp.SourceRanges, ip) }) {
			for _, ip := range sp.LoadBalancerIPs {
				r.rule(name, r.syn.ip+" daddr "+ip.String()+" "+r.syn.ip+" saddr "+ip.String()+" return",
					join(svc, "node to its own load balancer IP"))
			}
		}
		r.rule(name, "drop", join(svc, "source not in loadBalancerSourceRanges"))
	})
}

// containsAddr reports whether some prefix contains ip.
func containsAddr(prefixes []netip.Prefix, ip netip.Addr) bool {
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(ip) })
}

func sortAddrs(ips []netip.Addr) { slices.SortFunc(ips, netip.Addr.Compare) }
