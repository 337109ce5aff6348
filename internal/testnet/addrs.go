package testnet

import (
	"fmt"
	"net/netip"
	"testing"
)

// AddExternalClient gives the external namespace another source address
// (a /32 or /128, for example 203.0.113.7) and routes it back from the
// node, so a test can connect "from" several outside clients, each
// seen by the proxy as a different source.
func (topo *Topology) AddExternalClient(t testing.TB, addr netip.Addr) {
	t.Helper()
	host, via, dad := netip.PrefixFrom(addr, 32), ExternalIPv4, ""
	if addr.Is6() {
		host, via, dad = netip.PrefixFrom(addr, 128), ExternalIPv6, " nodad"
	}
	if err := ipBatch(topo.External, []string{fmt.Sprintf("addr add %s dev %s%s", host, podLink, dad)}); err != nil {
		t.Fatalf("adding external client %s: %v", addr, err)
	}
	if err := ipBatch(topo.Node, []string{fmt.Sprintf("route add %s via %s", host, via)}); err != nil {
		t.Fatalf("routing external client %s: %v", addr, err)
	}
}

// AddNodeAddr puts prefix (for example a LoadBalancer VIP 192.0.2.10/32)
// on the node's lo, so the node accepts traffic for it as local. The
// address goes with the node namespace; DelNodeAddr removes it sooner.
func (topo *Topology) AddNodeAddr(t testing.TB, prefix netip.Prefix) {
	t.Helper()
	line := fmt.Sprintf("addr add %s dev lo", prefix)
	if prefix.Addr().Is6() {
		line += " nodad"
	}
	if err := ipBatch(topo.Node, []string{line}); err != nil {
		t.Fatalf("adding node address %s: %v", prefix, err)
	}
}

// DelNodeAddr removes an address AddNodeAddr put on the node's lo.
func (topo *Topology) DelNodeAddr(t testing.TB, prefix netip.Prefix) {
	t.Helper()
	if err := ipBatch(topo.Node, []string{fmt.Sprintf("addr del %s dev lo", prefix)}); err != nil {
		t.Fatalf("removing node address %s: %v", prefix, err)
	}
}

// RouteLoopbackToNode makes the external namespace send what it addresses
// to 127.0.0.0/8, but for its own 127.0.0.1, to the node, as a neighbour
// on the node's link can (the attack of CVE-2020-8558): what then keeps
// it from the node's loopback services must be the node's own rules.
func (topo *Topology) RouteLoopbackToNode(t testing.TB) {
	t.Helper()
	err := writeSysctls(topo.External, []sysctl{{"net/ipv4/conf/all/route_localnet", "1"}})
	if err == nil {
		err = ipBatch(topo.External, []string{
			"route del local 127.0.0.0/8 dev lo table local",
			"route add 127.0.0.0/8 via " + NodeIPv4.String(),
		})
	}
	if err != nil {
		t.Fatalf("routing loopback addresses to the node: %v", err)
	}
}

// RenameExternalLink gives the node's end of its link to the external
// namespace another name, for rules that match the input interface
// (eth0). Renaming takes the link down, which drops its routes, so call
// it before AddExternalClient; the default routes are put back.
func (topo *Topology) RenameExternalLink(t testing.TB, name string) {
	t.Helper()
	err := ipBatch(topo.Node, []string{
		"link set " + nodeExternalLink + " down",
		"link set " + nodeExternalLink + " name " + name,
		"link set " + name + " up",
		// onlink: the link may not have its carrier back yet.
		"route replace default via " + ExternalIPv4.String() + " dev " + name + " onlink",
		"route replace default via " + ExternalIPv6.String() + " dev " + name + " onlink",
	})
	if err != nil {
		t.Fatalf("renaming the node's external link to %s: %v", name, err)
	}
}
