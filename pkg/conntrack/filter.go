package conntrack

import (
	"net"
	"net/netip"
)

// addrPort converts a netlink address and port, unmapping IPv4 addresses
// that netlink hands out in their 16-byte form.
func addrPort(ip net.IP, port uint16) netip.AddrPort {
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr.Unmap(), port)
}
