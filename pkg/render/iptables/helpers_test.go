package iptables

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/tracer"
	iptrace "github.com/svcproxy/svcproxy/internal/tracer/iptables"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// Test address plan (the part of docs/test-addresses.md these tests use):
//
//	node            192.168.0.10          fd00:192::10
//	pods            10.1.0.0/16 (and 10.2.0.0/16 as a second cluster CIDR)
//	                fd00:1::/64 (and fd00:2::/64)
//	cluster IPs     172.30.0.0/16         fd00:30::/64
//	external IPs    198.51.100.20         2001:db8:51::20
//	LB IPs          192.0.2.10            2001:db8:2::10
//	clients         203.0.113.0/24        2001:db8:113::/64
//	endpoints       10.1.0.5:8080 (on this node), 10.1.0.6:8080 (elsewhere)
const (
	nodeIP     = "192.168.0.10"
	podCIDR    = "10.1.0.0/16"
	podCIDR2   = "10.2.0.0/16"
	clusterIP  = "172.30.0.41"
	externalIP = "198.51.100.20"
	lbIP       = "192.0.2.10"
	client     = "203.0.113.7"
	localEP    = "10.1.0.5:8080"
	remoteEP   = "10.1.0.6:8080"
	nodePortN  = 30080
	healthPort = 30999
)

// endpoint returns an endpoint of sp with its chain hash set.
func endpoint(sp *model.ServicePort, addr string, local bool) model.Endpoint {
	ap := netip.MustParseAddrPort(addr)
	ep := model.Endpoint{IP: ap.Addr(), Port: ap.Port(), Local: local, Ready: true, Serving: true}
	ep.Hash = model.EndpointHash(sp.Name, ep)
	return ep
}

// servicePort returns ns1/svc1:p80, a TCP port 80 on clusterIP with one
// local and one remote endpoint, changed by opts.
func servicePort(opts ...func(*model.ServicePort)) *model.ServicePort {
	return namedServicePort("ns1", "svc1", "p80", model.TCP, clusterIP, 80, opts...)
}

func namedServicePort(ns, name, portName string, proto model.Protocol, cip string, port uint16, opts ...func(*model.ServicePort)) *model.ServicePort {
	sp := &model.ServicePort{
		Name:      model.PortName{Namespace: ns, Name: name, Port: portName, Protocol: proto},
		ClusterIP: netip.MustParseAddr(cip),
		Port:      port,
	}
	sp.Hash = model.ServicePortHash(sp.Name)
	eps := []model.Endpoint{endpoint(sp, localEP, true), endpoint(sp, remoteEP, false)}
	if sp.ClusterIP.Is6() {
		eps = []model.Endpoint{endpoint(sp, "[fd00:1::5]:8080", true), endpoint(sp, "[fd00:1::6]:8080", false)}
	}
	sp.ClusterEndpoints = eps
	sp.HasEndpoints = true
	for _, o := range opts {
		o(sp)
	}
	return sp
}

// newModel returns an IPv4 model of the node with the given services and
// cluster CIDRs.
func newModel(cidrs []string, sps ...*model.ServicePort) *model.Model {
	m := &model.Model{
		Family:   model.IPv4,
		Node:     model.Node{Name: "node1", IPs: []netip.Addr{netip.MustParseAddr(nodeIP)}},
		Config:   model.Config{MasqueradeBit: model.DefaultMasqueradeBit},
		Services: sps,
	}
	for _, c := range cidrs {
		m.Config.ClusterCIDRs = append(m.Config.ClusterCIDRs, netip.MustParsePrefix(c))
	}
	return m
}

// withNodePort gives the port a NodePort.
func withNodePort(sp *model.ServicePort) { sp.NodePort = nodePortN }

// withRemoteNode says which node the remote endpoint runs on, so that it
// is known not to be this one.
func withRemoteNode(sp *model.ServicePort) {
	for i, ep := range sp.ClusterEndpoints {
		if !ep.Local {
			sp.ClusterEndpoints[i].NodeName = "node2"
		}
	}
}

// withLocalEndpoints sets LocalEndpoints to the endpoints on this node.
func withLocalEndpoints(sp *model.ServicePort) {
	sp.LocalEndpoints = nil
	for _, ep := range sp.ClusterEndpoints {
		if ep.Local {
			sp.LocalEndpoints = append(sp.LocalEndpoints, ep)
		}
	}
}

// trace walks p through the rendered model and returns the result's
// string form.
func trace(t *testing.T, m *model.Model, p tracer.Packet) string {
	t.Helper()
	rs, err := iptrace.Parse(Render(m).Payload())
	if err != nil {
		t.Fatal(err)
	}
	routes, err := rs.Routes(m.Node.IPs, p)
	got := tracer.Outcomes(routes)
	if err != nil {
		t.Fatalf("tracing %v: %v", p, err)
	}
	return got.String()
}

// packet parses "[node] SRC PROTO DST:PORT".
func packet(t *testing.T, s string) tracer.Packet {
	t.Helper()
	exps, err := tracer.ParseExpectations(s + " => accept")
	if err != nil || len(exps) != 1 {
		t.Fatalf("bad packet %q: %v", s, err)
	}
	return exps[0].Packet
}

// onOtherNode puts sp's second endpoint on another node, where it cannot
// be its own client.
func onOtherNode(sp *model.ServicePort) {
	sp.ClusterEndpoints[1].NodeName = "node-b"
}

// args splits a rendered rule into the arguments iptables takes, keeping
// a quoted comment as one argument without its quotes. Rendered comments
// never contain quotes, so no escaping is needed.
func args(rule string) []string {
	var out []string
	for {
		rule = strings.TrimLeft(rule, " ")
		if rule == "" {
			return out
		}
		if rest, ok := strings.CutPrefix(rule, `"`); ok {
			word, after, _ := strings.Cut(rest, `"`)
			out = append(out, word)
			rule = after
			continue
		}
		word, rest, _ := strings.Cut(rule, " ")
		out = append(out, word)
		rule = rest
	}
}
