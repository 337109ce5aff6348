package conntrack

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// endpointFilter matches UDP entries DNATed to one of its endpoints: the
// reply comes from the endpoint, and the original destination was some
// other address (a Service IP, NodePort or external IP). Traffic that
// addressed the endpoint directly is not the proxy's and is left alone.
type endpointFilter map[netip.AddrPort]bool

var _ netlink.CustomConntrackFilter = endpointFilter(nil)

// MatchConntrackFlow reports whether flow is a UDP flow DNATed to one of
// the filter's endpoints.
func (f endpointFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != unix.IPPROTO_UDP {
		return false
	}
	replySrc := addrPort(flow.Reverse.SrcIP, flow.Reverse.SrcPort)
	origDst := addrPort(flow.Forward.DstIP, flow.Forward.DstPort)
	return f[replySrc] && origDst != replySrc
}

// serviceFilter matches UDP entries whose original destination is a
// Service address, DNATed or not. Port 0 matches every port.
type serviceFilter struct {
	ip   netip.Addr
	port uint16
}

var _ netlink.CustomConntrackFilter = serviceFilter{}

// MatchConntrackFlow reports whether flow is a UDP flow sent to the
// filter's address.
func (f serviceFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != unix.IPPROTO_UDP {
		return false
	}
	dst := addrPort(flow.Forward.DstIP, flow.Forward.DstPort)
	return dst.Addr() == f.ip && (f.port == 0 || dst.Port() == f.port)
}

// addrPort converts a netlink address and port, unmapping IPv4 addresses
// that netlink hands out in their 16-byte form.
func addrPort(ip net.IP, port uint16) netip.AddrPort {
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr.Unmap(), port)
}
