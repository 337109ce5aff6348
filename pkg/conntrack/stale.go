package conntrack

import (
	"net/netip"
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// StaleUDPEndpoints lists, sorted and without duplicates, the endpoints
// that some UDP service port of prev could reach and the same port of cur
// no longer can (because the endpoint or the whole port went away). Their
// entries are what Cleaner.DeleteUDPEndpoints should delete after cur is
// applied. Either model may be nil, meaning no services.
//
// Entries are deleted by endpoint, not by Service: an endpoint removed
// from one Service while still behind another loses the other's entries
// too, which costs that client one new DNAT decision and nothing more.
func StaleUDPEndpoints(prev, cur *model.Model) []netip.AddrPort {
	if prev == nil {
		return nil
	}
	reachable := map[model.PortName]map[netip.AddrPort]bool{}
	for _, sp := range udpPorts(cur) {
		set := map[netip.AddrPort]bool{}
		for _, ep := range sp.AllEndpoints() {
			set[netip.AddrPortFrom(ep.IP, ep.Port)] = true
		}
		reachable[sp.Name] = set
	}
	seen := map[netip.AddrPort]bool{}
	var stale []netip.AddrPort
	for _, sp := range udpPorts(prev) {
		for _, ep := range sp.AllEndpoints() {
			ap := netip.AddrPortFrom(ep.IP, ep.Port)
			if !reachable[sp.Name][ap] && !seen[ap] {
				seen[ap] = true
				stale = append(stale, ap)
			}
		}
	}
	slices.SortFunc(stale, netip.AddrPort.Compare)
	return stale
}

// RevivedUDPServiceAddrs lists, sorted and without duplicates, the
// addresses (cluster IP, external IPs and load balancer IPs, each with the
// Service port) of the UDP service ports that have endpoints in cur but
// had none in prev, or were not in it. Their entries are what
// Cleaner.DeleteUDPServiceIP should delete after cur is applied. Either
// model may be nil. NodePorts are not listed: their entries are addressed
// to the node's IPs.
func RevivedUDPServiceAddrs(prev, cur *model.Model) []netip.AddrPort {
	had := map[model.PortName]bool{}
	for _, sp := range udpPorts(prev) {
		had[sp.Name] = sp.HasEndpoints
	}
	seen := map[netip.AddrPort]bool{}
	var out []netip.AddrPort
	for _, sp := range udpPorts(cur) {
		if !sp.HasEndpoints || had[sp.Name] {
			continue
		}
		for _, ip := range serviceIPs(sp) {
			ap := netip.AddrPortFrom(ip, sp.Port)
			if !seen[ap] {
				seen[ap] = true
				out = append(out, ap)
			}
		}
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return out
}

// udpPorts returns the UDP service ports of m, none if m is nil.
func udpPorts(m *model.Model) []*model.ServicePort {
	if m == nil {
		return nil
	}
	var out []*model.ServicePort
	for _, sp := range m.Services {
		if sp.Name.Protocol == model.UDP {
			out = append(out, sp)
		}
	}
	return out
}

// serviceIPs returns the virtual addresses of sp that clients send to.
func serviceIPs(sp *model.ServicePort) []netip.Addr {
	var ips []netip.Addr
	if sp.ClusterIP.IsValid() {
		ips = append(ips, sp.ClusterIP)
	}
	ips = append(ips, sp.ExternalIPs...)
	return append(ips, sp.LoadBalancerIPs...)
}
