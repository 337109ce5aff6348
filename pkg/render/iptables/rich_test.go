package iptables

import (
	"net/netip"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// richModel returns a model of family fam that uses every form of rule
// the renderer emits: all protocols, affinity, external IPs, load
// balancers with and without source ranges, both traffic policies,
// services without (local) endpoints, several cluster CIDRs and
// NodePortAddresses.
func richModel(fam model.Family) *model.Model {
	a := addrPlan(fam)
	m := &model.Model{
		Family: fam,
		Node:   model.Node{Name: "node1", IPs: []netip.Addr{a.addr("node")}},
		Config: model.Config{
			MasqueradeBit: model.DefaultMasqueradeBit,
			ClusterCIDRs:  []netip.Prefix{a.prefix("pods"), a.prefix("pods2")},
		},
	}
	eps := func(sp *model.ServicePort) {
		sp.ClusterEndpoints = []model.Endpoint{endpoint(sp, a.ep("ep1"), true), endpoint(sp, a.ep("ep2"), false)}
		// ep2 runs on another node, so it is DNATed without a KUBE-SEP-
		// chain, with session affinity too.
		sp.ClusterEndpoints[1].NodeName = "node-b"
		sp.LocalEndpoints = sp.ClusterEndpoints[:1]
		sp.HasEndpoints = true
	}
	sp := func(name string, proto model.Protocol, port uint16, opts ...func(*model.ServicePort)) *model.ServicePort {
		s := &model.ServicePort{
			Name:      model.PortName{Namespace: "ns1", Name: name, Port: "p", Protocol: proto},
			ClusterIP: a.addr(name),
			Port:      port,
		}
		s.Hash = model.ServicePortHash(s.Name)
		for _, o := range opts {
			o(s)
		}
		return s
	}
	lb := func(s *model.ServicePort) {
		s.NodePort = 30000 + s.Port
		s.ExternalIPs = []netip.Addr{a.addr("ext")}
		s.LoadBalancerIPs = []netip.Addr{a.addr("lb")}
	}
	m.Services = []*model.ServicePort{
		sp("a-plain", model.TCP, 80, eps),
		sp("b-udp", model.UDP, 53, eps, func(s *model.ServicePort) { s.AffinitySeconds = 10800 }),
		sp("c-sctp", model.SCTP, 9, eps, lb),
		sp("d-fw", model.TCP, 443, eps, lb, func(s *model.ServicePort) {
			s.Firewall = true
			s.SourceRanges = []netip.Prefix{a.prefix("clients"), a.prefix("nodes")}
		}),
		sp("e-local", model.TCP, 8443, eps, lb, func(s *model.ServicePort) {
			s.ExternalPolicyLocal, s.InternalPolicyLocal, s.HealthCheckNodePort = true, true, 31000
		}),
		sp("f-none", model.TCP, 81, lb),
		sp("g-nolocal", model.TCP, 82, eps, lb, func(s *model.ServicePort) {
			s.ExternalPolicyLocal, s.InternalPolicyLocal = true, true
			s.LocalEndpoints = nil
		}),
		// The longest names the model allows must not push any comment
		// past the kernel's limit.
		sp(longName, model.TCP, 83, eps, lb, func(s *model.ServicePort) {
			s.Name.Namespace = strings.Repeat("n", 63)
			s.Name.Port = strings.Repeat("p", 15)
			s.Hash = model.ServicePortHash(s.Name)
			s.ExternalPolicyLocal, s.HealthCheckNodePort = true, 31001
			s.Firewall, s.SourceRanges = true, []netip.Prefix{a.prefix("clients")}
		}, eps),
	}
	return m
}

// longName is a Service name of the greatest length the model accepts.
var longName = "h" + strings.Repeat("x", 252)

// addrs maps the names richModel uses to addresses of one family.
type addrs map[string]string

func addrPlan(fam model.Family) addrs {
	if fam == model.IPv6 {
		return addrs{
			"node": "fd00:192::10", "pods": "fd00:1::/64", "pods2": "fd00:2::/64",
			"clients": "2001:db8:113::/64", "nodes": "fd00:192::/64",
			"ext": "2001:db8:51::20", "lb": "2001:db8:2::10",
			"ep1": "[fd00:1::5]:8080", "ep2": "[fd00:1::6]:8080",
			"a-plain": "fd00:30::1", "b-udp": "fd00:30::2", "c-sctp": "fd00:30::3", "d-fw": "fd00:30::4",
			"e-local": "fd00:30::5", "f-none": "fd00:30::6", "g-nolocal": "fd00:30::7", longName: "fd00:30::8",
		}
	}
	return addrs{
		"node": nodeIP, "pods": podCIDR, "pods2": podCIDR2,
		"clients": "203.0.113.0/25", "nodes": "192.168.0.0/24",
		"ext": externalIP, "lb": lbIP,
		"ep1": localEP, "ep2": remoteEP,
		"a-plain": "172.30.0.1", "b-udp": "172.30.0.2", "c-sctp": "172.30.0.3", "d-fw": "172.30.0.4",
		"e-local": "172.30.0.5", "f-none": "172.30.0.6", "g-nolocal": "172.30.0.7", longName: "172.30.0.8",
	}
}

func (a addrs) addr(name string) netip.Addr     { return netip.MustParseAddr(a[name]) }
func (a addrs) prefix(name string) netip.Prefix { return netip.MustParsePrefix(a[name]) }
func (a addrs) ep(name string) string           { return a[name] }
