package nftables

import (
	"net/netip"
	"testing"

	nfttrace "github.com/svcproxy/svcproxy/internal/tracer/nftables"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// Test address plan (the part of docs/test-addresses.md these tests use;
// IPv6 mirrors it):
//
//	10.1.0.0/16, 10.2.0.0/16  pods (the cluster CIDRs); 10.1.0.x run on this
//	                          node, 10.2.0.x elsewhere   fd00:1::/64
//	172.30.0.0/16             cluster IPs                fd00:30::/64
//	192.168.0.10              this node                  fd00:192::10
//	192.168.0.11              another address of it
//	192.0.2.0/24              load balancer IPs          2001:db8:2::/64
//	198.51.100.20             an external IP             2001:db8:51::20
//	203.0.113.0/24            external clients           2001:db8:113::/48
var (
	nodeIP       = netip.MustParseAddr("192.168.0.10")
	clusterCIDR  = netip.MustParsePrefix("10.1.0.0/16")
	clusterCIDR2 = netip.MustParsePrefix("10.2.0.0/16")
	externalIP   = netip.MustParseAddr("198.51.100.20")
	lbIP         = netip.MustParseAddr("192.0.2.10")
	clusterIP    = netip.MustParseAddr("172.30.0.1")
	nodeIP6      = netip.MustParseAddr("fd00:192::10")
	clusterCIDR6 = netip.MustParsePrefix("fd00:1::/64")
	clusterIP6   = netip.MustParseAddr("fd00:30::1")
)

// ep returns a ready endpoint; local says whether it runs on this node.
func ep(name model.PortName, addrPort string, local bool) model.Endpoint {
	ap := netip.MustParseAddrPort(addrPort)
	e := model.Endpoint{IP: ap.Addr(), Port: ap.Port(), Local: local, Ready: true, Serving: true}
	e.Hash = model.EndpointHash(name, e)
	return e
}

// svc builds a TCP ServicePort "ns/name:http" on port 80 of cip with the
// given endpoints as cluster endpoints and the local ones as local
// endpoints; opts adjust it before the endpoint lists are derived.
func svc(name string, cip netip.Addr, eps []string, opts ...func(*model.ServicePort)) *model.ServicePort {
	pn := model.PortName{Namespace: "ns", Name: name, Port: "http", Protocol: model.TCP}
	sp := &model.ServicePort{Name: pn, Hash: model.ServicePortHash(pn), ClusterIP: cip, Port: 80}
	for _, o := range opts {
		o(sp)
	}
	for _, s := range eps {
		local := s[0] == 'L'
		e := ep(pn, s[1:], local)
		sp.ClusterEndpoints = append(sp.ClusterEndpoints, e)
		if local {
			sp.LocalEndpoints = append(sp.LocalEndpoints, e)
		}
	}
	sp.HasEndpoints = len(eps) > 0
	return sp
}

func newModel(fam model.Family, cfg model.Config, node []netip.Addr, sps ...*model.ServicePort) *model.Model {
	return &model.Model{Family: fam, Node: model.Node{Name: "node-a", IPs: node}, Config: cfg, Services: sps}
}

// load renders m and loads the text the way nft reads it, failing the
// test if the loader refuses it.
func load(t *testing.T, m *model.Model) *nfttrace.Table {
	t.Helper()
	text := RenderRuleset(m).Text
	table, err := nfttrace.Load(text)
	if err != nil {
		t.Fatalf("loading the rendered text: %v\n%s", err, text)
	}
	return table
}

// richModel uses every feature: both policies, NodePorts, external and
// load balancer IPs with source ranges, affinity, UDP, a port without
// endpoints and one whose policy finds none.
func richModel(fam model.Family) *model.Model {
	cip, pod, pod2, lbAddr, ext := "172.30.0.", "10.1.0.5", "10.2.0.5", "192.0.2.10", "198.51.100.20"
	// 10.1.1.0/24 lies inside 10.1.0.0/16: the cluster CIDR set must
	// merge them.
	cfg := model.Config{ClusterCIDRs: []netip.Prefix{clusterCIDR, clusterCIDR2, netip.MustParsePrefix("10.1.1.0/24")}, MasqueradeBit: 14}
	node := []netip.Addr{nodeIP}
	rng := "203.0.113.0/24"
	ap := func(ip string) string { return ip + ":8080" }
	if fam == model.IPv6 {
		cip, pod, pod2, lbAddr, ext = "fd00:30::", "fd00:1::1:5", "fd00:1::2:5", "2001:db8:2::10", "2001:db8:51::20"
		cfg.ClusterCIDRs = []netip.Prefix{clusterCIDR6}
		node = []netip.Addr{nodeIP6}
		rng = "2001:db8:113::/48"
		ap = func(ip string) string { return "[" + ip + "]:8080" }
	}
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	lb := func(sp *model.ServicePort) {
		sp.LoadBalancerIPs = []netip.Addr{a(lbAddr)}
		sp.SourceRanges, sp.Firewall = []netip.Prefix{netip.MustParsePrefix(rng)}, true
	}
	eps := []string{"L" + ap(pod), "R" + ap(pod2)}
	return newModel(fam, cfg, node,
		svc("a", a(cip+"1"), eps, nodePort(30080), lb),
		svc("b", a(cip+"2"), eps, nodePort(30081), lb, localPolicy),
		svc("c", a(cip+"3"), eps, affinity, func(sp *model.ServicePort) { sp.ExternalIPs = []netip.Addr{a(ext)} }),
		svc("d", a(cip+"4"), eps, affinity, localPolicy, nodePort(30082)),
		svc("e", a(cip+"5"), nil, nodePort(30083)),
		svc("f", a(cip+"6"), []string{"R" + ap(pod2)}, nodePort(30084), localPolicy),
		svc("g", a(cip+"7"), eps, func(sp *model.ServicePort) { sp.Name.Protocol = model.UDP; sp.InternalPolicyLocal = true }),
	)
}
