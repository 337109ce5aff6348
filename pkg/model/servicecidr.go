package model

import (
	"net/netip"
	"slices"

	networking "k8s.io/api/networking/v1"
)

// serviceCIDR is one prefix of a ServiceCIDR object.
type serviceCIDR struct {
	object string
	prefix netip.Prefix
}

// parseServiceCIDRs reads the prefixes of the ServiceCIDR objects, the
// ranges cluster IPs are allocated from (kube-proxy reads every object,
// terminating ones too). A prefix that does not parse is skipped with a
// warning naming its object.
func parseServiceCIDRs(objs []*networking.ServiceCIDR, warn *warnings) []serviceCIDR {
	var out []serviceCIDR
	for _, o := range objs {
		if o == nil {
			continue
		}
		for _, s := range o.Spec.CIDRs {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				warn.add("ServiceCIDR", o.Name, "invalid CIDR %q skipped: %v", s, err)
				continue
			}
			out = append(out, serviceCIDR{object: o.Name, prefix: p.Masked()})
		}
	}
	return out
}

// serviceCIDRsOfFamily returns the prefixes of fam that the rules may
// treat as holding only cluster IPs, sorted and without duplicates.
// kube-proxy's nftables mode drops new traffic to an address in them
// that no Service holds. svcproxy leaves out, with a warning, a prefix
// that holds an address of this node or overlaps a cluster CIDR: those
// addresses are not cluster IPs, and dropping their traffic would cut
// the node or its pods off.
func serviceCIDRsOfFamily(cidrs []serviceCIDR, fam Family, node Node, clusterCIDRs []netip.Prefix, warn *warnings) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		if FamilyOf(c.prefix.Addr()) != fam {
			continue
		}
		if ip := slices.IndexFunc(node.IPs, c.prefix.Contains); ip >= 0 {
			warn.add("ServiceCIDR", c.object, "CIDR %s skipped: it holds the node address %s", c.prefix, node.IPs[ip])
			continue
		}
		if i := slices.IndexFunc(clusterCIDRs, c.prefix.Overlaps); i >= 0 {
			warn.add("ServiceCIDR", c.object, "CIDR %s skipped: it overlaps the cluster CIDR %s", c.prefix, clusterCIDRs[i])
			continue
		}
		out = append(out, c.prefix)
	}
	slices.SortFunc(out, comparePrefixes)
	return slices.Compact(out)
}
