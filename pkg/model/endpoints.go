package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	discovery "k8s.io/api/discovery/v1"
)

// endpointKey identifies the endpoints of one Service port in one family.
type endpointKey struct {
	namespace, service, port string
	protocol                 Protocol
	family                   Family
}

// endpointIndex holds the merged, de-duplicated endpoints of every Service
// port found in the EndpointSlices.
type endpointIndex map[endpointKey]map[netip.AddrPort]Endpoint

func (idx endpointIndex) lookup(namespace, service, port string, proto Protocol, fam Family) []Endpoint {
	set := idx[endpointKey{namespace, service, port, proto, fam}]
	out := make([]Endpoint, 0, len(set))
	for _, ep := range set {
		out = append(out, ep)
	}
	sortEndpoints(out)
	return out
}

// add merges ep, keeping the better of two copies of one endpoint: several
// slices may list the same address while a pod moves between them.
func (idx endpointIndex) add(key endpointKey, ep Endpoint) {
	set := idx[key]
	if set == nil {
		set = map[netip.AddrPort]Endpoint{}
		idx[key] = set
	}
	ap := netip.AddrPortFrom(ep.IP, ep.Port)
	if old, ok := set[ap]; !ok || endpointRank(ep) > endpointRank(old) {
		set[ap] = ep
	}
}

func endpointRank(ep Endpoint) int {
	rank := 0
	switch {
	case ep.Ready:
		rank = 4
	case ep.Serving && ep.Terminating:
		rank = 2
	}
	if ep.Local {
		rank++
	}
	return rank
}

// collectEndpoints validates EndpointSlices and indexes their endpoints by
// Service port. Slices are visited in name order so that, of two equally
// good copies of an endpoint, the same one always wins.
func collectEndpoints(in []*discovery.EndpointSlice, nodeName string, warn *warnings) endpointIndex {
	sorted := slices.Clone(in)
	sorted = slices.DeleteFunc(sorted, func(s *discovery.EndpointSlice) bool { return s == nil })
	slices.SortFunc(sorted, func(a, b *discovery.EndpointSlice) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	idx := endpointIndex{}
	for _, slice := range sorted {
		addSlice(idx, slice, nodeName, warn)
	}
	return idx
}

func addSlice(idx endpointIndex, slice *discovery.EndpointSlice, nodeName string, warn *warnings) {
	id := slice.Namespace + "/" + slice.Name
	var fam Family
	switch slice.AddressType {
	case discovery.AddressTypeIPv4:
		fam = IPv4
	case discovery.AddressTypeIPv6:
		fam = IPv6
	case discovery.AddressTypeFQDN:
		warn.add("EndpointSlice", id, "skipped: addressType FQDN names no address a proxy can use")
		return
	default:
		warn.add("EndpointSlice", id, "skipped: unknown addressType %q", slice.AddressType)
		return
	}
	svcName := slice.Labels[discovery.LabelServiceName]
	if svcName == "" {
		warn.add("EndpointSlice", id, "skipped: label %s is missing", discovery.LabelServiceName)
		return
	}
	if err := validObjectName(slice.Namespace, svcName); err != nil {
		warn.add("EndpointSlice", id, "skipped: %v", err)
		return
	}
	ports := slicePorts(slice, id, warn)
	for i := range slice.Endpoints {
		ep, ok := sliceEndpoint(&slice.Endpoints[i], fam, nodeName, id, i, warn)
		if !ok {
			continue
		}
		for _, p := range ports {
			ep.Port = p.port
			idx.add(endpointKey{slice.Namespace, svcName, p.name, p.protocol, fam}, ep)
		}
	}
}

func slicePorts(slice *discovery.EndpointSlice, id string, warn *warnings) []servicePortSpec {
	var out []servicePortSpec
	for i, p := range slice.Ports {
		field := fmt.Sprintf("ports[%d]", i)
		var name string
		if p.Name != nil {
			name = *p.Name
		}
		if name != "" {
			if errs := labelErrors(name); len(errs) > 0 {
				warn.add("EndpointSlice", id, "%s skipped: name %q is invalid: %s", field, name, errs[0])
				continue
			}
		}
		var proto Protocol = TCP
		if p.Protocol != nil {
			var err error
			if proto, err = ParseProtocol(*p.Protocol); err != nil {
				warn.add("EndpointSlice", id, "%s skipped: %v", field, err)
				continue
			}
		}
		if p.Port == nil {
			warn.add("EndpointSlice", id, "%s skipped: port is missing", field)
			continue
		}
		port, err := validPort(*p.Port)
		if err != nil {
			warn.add("EndpointSlice", id, "%s skipped: port: %v", field, err)
			continue
		}
		out = append(out, servicePortSpec{name: name, protocol: proto, port: port})
	}
	return out
}

// sliceEndpoint converts one endpoint. Like kube-proxy it uses only the
// first address: the API says all addresses of an endpoint are fungible.
func sliceEndpoint(e *discovery.Endpoint, fam Family, nodeName, id string, i int, warn *warnings) (Endpoint, bool) {
	// No field name is formatted unless a warning needs it: a full build
	// reads 100,000 endpoints at 10,000 Services.
	if len(e.Addresses) == 0 {
		warn.add("EndpointSlice", id, "endpoints[%d] skipped: no addresses", i)
		return Endpoint{}, false
	}
	ip, err := ParseIP(e.Addresses[0])
	if err == nil && FamilyOf(ip) != fam {
		err = fmt.Errorf("%s is not an %s address", ip, fam)
	}
	if err == nil {
		err = usableAddress(ip)
	}
	if err != nil {
		warn.add("EndpointSlice", id, "endpoints[%d] skipped: %v", i, err)
		return Endpoint{}, false
	}
	// Unset conditions read as kube-proxy reads them: ready and serving
	// true, terminating false. The API asks consumers to take an unset
	// serving as ready, which differs only for an endpoint that is not
	// ready and terminating; kube-proxy then keeps it as a fallback, and
	// so does svcproxy, so that a node's traffic does not change with the
	// proxy.
	ep := Endpoint{
		IP:          ip,
		Ready:       e.Conditions.Ready == nil || *e.Conditions.Ready,
		Serving:     e.Conditions.Serving == nil || *e.Conditions.Serving,
		Terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
	}
	if e.NodeName != nil {
		ep.NodeName = *e.NodeName
		ep.Local = nodeName != "" && ep.NodeName == nodeName
	}
	if e.Zone != nil {
		ep.Zone = *e.Zone
	}
	if e.Hints != nil {
		for _, z := range e.Hints.ForZones {
			ep.ZoneHints = append(ep.ZoneHints, z.Name)
		}
		for _, n := range e.Hints.ForNodes {
			ep.NodeHints = append(ep.NodeHints, n.Name)
		}
		slices.Sort(ep.ZoneHints)
		slices.Sort(ep.NodeHints)
	}
	return ep, true
}
