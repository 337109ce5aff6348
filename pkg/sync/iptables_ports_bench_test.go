package sync

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

// largeIPTablesModel returns services Services with endpoints endpoints
// each, the first on this node; every tenth has a NodePort, as in
// svcproxy bench.
func largeIPTablesModel(services, endpoints int) *model.Model {
	m := &model.Model{
		Family: model.IPv4,
		Node:   model.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}},
		Config: model.Config{
			ClusterCIDRs:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
			MasqueradeBit: model.DefaultMasqueradeBit,
		},
	}
	for i := range services {
		sp := &model.ServicePort{
			Name:         model.PortName{Namespace: "ns", Name: fmt.Sprintf("svc%05d", i), Port: "http", Protocol: model.TCP},
			ClusterIP:    netip.AddrFrom4([4]byte{172, 30, byte(i >> 8), byte(i)}),
			Port:         80,
			HasEndpoints: true,
		}
		sp.Hash = model.ServicePortHash(sp.Name)
		if i%10 == 0 {
			sp.NodePort = uint16(30000 + i/10)
		}
		for j := range endpoints {
			sp.ClusterEndpoints = append(sp.ClusterEndpoints, benchEndpoint(sp, i*endpoints+j, j == 0))
		}
		m.Services = append(m.Services, sp)
	}
	return m
}

func benchEndpoint(sp *model.ServicePort, n int, local bool) model.Endpoint {
	ep := model.Endpoint{IP: netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)}), Port: 8080, Ready: true, Serving: true, NodeName: "node-b"}
	if local {
		ep.NodeName, ep.Local = "node-a", true
	}
	ep.Hash = model.EndpointHash(sp.Name, ep)
	return ep
}

// withEndpointChanged returns m with the last endpoint of one port moved
// to another address, every other port shared, as the model builder
// shares them.
func withEndpointChanged(m *model.Model, i int) *model.Model {
	next := *m
	next.Services = append([]*model.ServicePort(nil), m.Services...)
	sp := *m.Services[i]
	sp.ClusterEndpoints = append([]model.Endpoint(nil), sp.ClusterEndpoints...)
	last := len(sp.ClusterEndpoints) - 1
	sp.ClusterEndpoints[last] = benchEndpoint(&sp, 200000, false)
	next.Services[i] = &sp
	return &next
}

// BenchmarkIPTablesEndpointChange measures the Go side of an incremental
// sync after one endpoint changed at 10,000 Services × 10 endpoints: the
// full render compared chain by chain, and the render of only the port
// that changed. Both end with the same restore input.
func BenchmarkIPTablesEndpointChange(b *testing.B) {
	prev := largeIPTablesModel(10000, 10)
	next := withEndpointChanged(prev, 5000)
	rs := iptables.Render(prev)
	l := newLoadedChains(rs)
	l.setModel(rs, prev)
	b.Run("full render", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rs := iptables.Render(next)
			var deltas []tableDelta
			for _, t := range rs.Tables {
				if d := l.delta(t); !d.empty() {
					deltas = append(deltas, d)
				}
			}
			_ = deltaPayload(deltas)
		}
	})
	b.Run("changed ports", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			deltas, ok := l.portDeltas(next)
			if !ok {
				b.Fatal("took the full path")
			}
			_ = deltaPayload(deltas)
		}
	})
}
