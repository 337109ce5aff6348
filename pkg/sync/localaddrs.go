package sync

import (
	"fmt"
	"net"
	"net/netip"
)

// LocalAddrs lists the addresses on the interfaces of the network
// namespace the process runs in, the host's for svcproxy run: the node
// addresses --nodeport-addresses CIDRs are matched against, as kube-proxy
// matches them.
func LocalAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing the node's interface addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(n.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}
