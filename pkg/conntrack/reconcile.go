package conntrack

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// ReconcileFilter matches the UDP entries a model makes stale, with
// kube-proxy's meaning: an entry addressed to a UDP Service's address
// (cluster, external or load balancer IP with the Service port) or to its
// NodePort (on any address), whose reply does not come from one of the
// port's serving endpoints. That covers entries DNATed to an endpoint
// since gone, and entries that were never DNATed because the Service had
// no endpoint when they were made. A Service with no serving endpoint is
// left alone: its clients' flows go on, and new ones are rejected.
type ReconcileFilter struct {
	byAddr     map[netip.AddrPort]map[netip.AddrPort]bool
	byNodePort map[uint16]map[netip.AddrPort]bool
}

var _ netlink.CustomConntrackFilter = (*ReconcileFilter)(nil)

// NewReconcileFilter returns the filter of m's UDP ports.
func NewReconcileFilter(m *model.Model) *ReconcileFilter {
	f := &ReconcileFilter{byAddr: map[netip.AddrPort]map[netip.AddrPort]bool{}, byNodePort: map[uint16]map[netip.AddrPort]bool{}}
	for _, sp := range m.Services {
		if sp.Name.Protocol != model.UDP {
			continue
		}
		serving := map[netip.AddrPort]bool{}
		for _, ep := range sp.AllEndpoints() {
			serving[netip.AddrPortFrom(ep.IP, ep.Port)] = true
		}
		for _, ap := range sp.OtherServing {
			serving[ap] = true
		}
		if len(serving) == 0 {
			continue
		}
		for _, ip := range serviceIPs(sp) {
			f.byAddr[netip.AddrPortFrom(ip, sp.Port)] = serving
		}
		if sp.NodePort != 0 {
			f.byNodePort[sp.NodePort] = serving
		}
	}
	return f
}

// Empty reports whether the filter can match nothing: no UDP Service
// has a serving endpoint.
func (f *ReconcileFilter) Empty() bool { return len(f.byAddr) == 0 && len(f.byNodePort) == 0 }

// MatchConntrackFlow reports whether flow is stale.
func (f *ReconcileFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != unix.IPPROTO_UDP {
		return false
	}
	origDst := addrPort(flow.Forward.DstIP, flow.Forward.DstPort)
	replySrc := addrPort(flow.Reverse.SrcIP, flow.Reverse.SrcPort)
	if serving, ok := f.byAddr[origDst]; ok && !serving[replySrc] {
		return true
	}
	serving, ok := f.byNodePort[origDst.Port()]
	return ok && !serving[replySrc]
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

// addrPort converts a netlink address and port, unmapping IPv4 addresses
// that netlink hands out in their 16-byte form.
func addrPort(ip net.IP, port uint16) netip.AddrPort {
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr.Unmap(), port)
}
