package model

import (
	"cmp"
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// Input is the cluster state a Model is built from. The objects are only
// read; their order does not matter.
type Input struct {
	Services       []*v1.Service
	EndpointSlices []*discovery.EndpointSlice
	// Node is this node, with addresses of every family.
	Node Node
}

// Build builds one Model per IP family present in the input: a family is
// present when the node has an address in it or a Service has a cluster IP
// in it (IPv4 alone when neither says). Objects that fail validation are
// skipped, each with a Warning; everything else is built.
func Build(in Input, cfg Config) ([]*Model, []Warning) {
	var warn warnings
	services := convertServices(in.Services, &warn)
	endpoints := collectEndpoints(in.EndpointSlices, in.Node.Name, &warn)

	var models []*Model
	for _, fam := range presentFamilies(in.Node, services) {
		m := &Model{
			Family: fam,
			Node:   nodeOfFamily(in.Node, fam),
			Config: configOfFamily(cfg, fam),
		}
		for _, svc := range services {
			m.Services = append(m.Services, svc.portsFor(fam, endpoints, m.Node)...)
		}
		slices.SortFunc(m.Services, compareServicePorts)
		models = append(models, m)
	}
	return models, warn
}

func presentFamilies(node Node, services []*service) []Family {
	present := map[Family]bool{}
	for _, ip := range node.IPs {
		present[FamilyOf(ip)] = true
	}
	for _, svc := range services {
		for _, ip := range svc.clusterIPs {
			present[FamilyOf(ip)] = true
		}
	}
	if len(present) == 0 {
		present[IPv4] = true
	}
	var out []Family
	for _, f := range Families {
		if present[f] {
			out = append(out, f)
		}
	}
	return out
}

func nodeOfFamily(node Node, fam Family) Node {
	out := Node{Name: node.Name, Zone: node.Zone, IPs: addrsOfFamily(node.IPs, fam)}
	slices.SortFunc(out.IPs, netip.Addr.Compare)
	out.IPs = slices.Compact(out.IPs)
	return out
}

func configOfFamily(cfg Config, fam Family) Config {
	out := cfg
	out.ClusterCIDRs = prefixesOfFamily(cfg.ClusterCIDRs, fam)
	out.NodePortAddresses = prefixesOfFamily(cfg.NodePortAddresses, fam)
	return out
}

func addrsOfFamily(addrs []netip.Addr, fam Family) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if FamilyOf(a) == fam {
			out = append(out, a)
		}
	}
	return out
}

func prefixesOfFamily(prefixes []netip.Prefix, fam Family) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range prefixes {
		if FamilyOf(p.Addr()) == fam {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, comparePrefixes)
	return slices.Compact(out)
}

func comparePrefixes(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

func compareServicePorts(a, b *ServicePort) int {
	return a.Name.Compare(b.Name)
}

func compareEndpoints(a, b Endpoint) int {
	return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Port, b.Port))
}

func sortEndpoints(eps []Endpoint) {
	slices.SortFunc(eps, compareEndpoints)
}
