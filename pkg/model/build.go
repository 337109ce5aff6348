package model

import (
	"cmp"
	"net/netip"
	"slices"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	networking "k8s.io/api/networking/v1"
)

// Input is the cluster state a Model is built from. The objects are only
// read; their order does not change the Models, only the order in which
// Build reports warnings.
type Input struct {
	Services       []*v1.Service
	EndpointSlices []*discovery.EndpointSlice
	// ServiceCIDRs are the ranges the API server allocates cluster IPs
	// from; none where the cluster has no such objects.
	ServiceCIDRs []*networking.ServiceCIDR
	// Node is this node, with addresses of every family.
	Node Node
}

// Build builds one Model per IP family present in the input: a family is
// present when the node has an address in it or a Service has a cluster IP
// in it (IPv4 alone when neither says). Objects that fail validation are
// skipped, each with a Warning; everything else is built.
//
// Build is a fresh Builder's Build, so that a one-off build and a proxy's
// repeated ones cannot drift apart. Only the warnings come in another
// order, the one a person reading the input expects: the Services' as
// in.Services lists them, then the EndpointSlices' by namespace and name.
func Build(in Input, cfg Config) ([]*Model, []Warning) {
	models, warns := NewBuilder(cfg).Build(in)
	return models, reportOrder(warns, in)
}

// reportOrder sorts the warnings of a build of in as the input has its
// objects: the Services' in the order of in.Services, then the
// EndpointSlices' by namespace and name. A Builder reports them by
// Service key instead, an order that stays the same from one sync to the
// next however the objects are listed. Several warnings of one object
// keep their order.
func reportOrder(warns []Warning, in Input) []Warning {
	if len(warns) < 2 {
		return warns
	}
	places := reportPlaces(warns, in)
	out := slices.Clone(warns)
	slices.SortStableFunc(out, func(a, b Warning) int {
		return places[objectRef{a.Kind, a.Object}].compare(places[objectRef{b.Kind, b.Object}])
	})
	return out
}

// objectRef is the object a Warning is about.
type objectRef struct{ kind, object string }

// reportPlace is where the warnings of one object stand in the report.
type reportPlace struct {
	// group is 0 for a Service, 1 for an EndpointSlice: slices come
	// after Services.
	group int
	// index is a Service's place in Input.Services.
	index int
	// namespace and name order EndpointSlices.
	namespace, name string
}

func (p reportPlace) compare(o reportPlace) int {
	return cmp.Or(cmp.Compare(p.group, o.group), cmp.Compare(p.index, o.index),
		cmp.Compare(p.namespace, o.namespace), cmp.Compare(p.name, o.name))
}

// reportPlaces finds the place of every object with a warning. Only those
// objects are looked up, so a large input with a few bad objects costs a
// scan, not a map of all of it.
func reportPlaces(warns []Warning, in Input) map[objectRef]reportPlace {
	places := map[objectRef]reportPlace{}
	for _, w := range warns {
		places[objectRef{w.Kind, w.Object}] = reportPlace{index: -1}
	}
	for i, s := range in.Services {
		if s == nil {
			continue
		}
		// Of two Services with one name, the first places both.
		ref := objectRef{"Service", s.Namespace + "/" + s.Name}
		if p, ok := places[ref]; ok && p.index < 0 {
			places[ref] = reportPlace{index: i}
		}
	}
	for _, s := range in.EndpointSlices {
		if s == nil {
			continue
		}
		ref := objectRef{"EndpointSlice", s.Namespace + "/" + s.Name}
		if _, ok := places[ref]; ok {
			places[ref] = reportPlace{group: 1, namespace: s.Namespace, name: s.Name}
		}
	}
	return places
}

// nodeOfFamily narrows node to fam's addresses: the primary one first,
// so that Node.Primary still finds it, then the others sorted.
func nodeOfFamily(node Node, fam Family) Node {
	out := Node{Name: node.Name, Zone: node.Zone, IPs: addrsOfFamily(node.IPs, fam), PodCIDRs: prefixesOfFamily(node.PodCIDRs, fam)}
	if node.LocalIPs != nil {
		out.LocalIPs = addrsOfFamily(node.LocalIPs, fam)
		slices.SortFunc(out.LocalIPs, netip.Addr.Compare)
		out.LocalIPs = slices.Compact(out.LocalIPs)
		if out.LocalIPs == nil {
			out.LocalIPs = []netip.Addr{} // known, and none
		}
	}
	if len(out.IPs) > 1 {
		rest := out.IPs[1:]
		slices.SortFunc(rest, netip.Addr.Compare)
		rest = slices.Compact(rest)
		rest = slices.DeleteFunc(rest, func(a netip.Addr) bool { return a == out.IPs[0] })
		out.IPs = append(out.IPs[:1], rest...)
	}
	return out
}

func configOfFamily(cfg Config, fam Family, node Node) Config {
	out := cfg
	out.ClusterCIDRs = prefixesOfFamily(cfg.ClusterCIDRs, fam)
	if cfg.PodInterface != "" {
		out.ClusterCIDRs = nil
	}
	if cfg.DetectLocalNodeCIDR {
		// kube-proxy takes only the first of the family; svcproxy takes
		// them all, as it takes every --cluster-cidr: each holds pods
		// of this node alone.
		out.ClusterCIDRs = prefixesOfFamily(node.PodCIDRs, fam)
	}
	out.NodePortAddresses = prefixesOfFamily(cfg.NodePortAddresses, fam)
	if cfg.NodePortPrimary {
		out.NodePortAddresses = nil
		// Without a primary address of the family nothing restricts it,
		// as kube-proxy then falls back to every address.
		if ip, ok := node.Primary(fam); ok {
			out.NodePortAddresses = []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())}
		}
	}
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
