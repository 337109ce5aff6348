package iptables

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// largeModel returns services Services with endpoints endpoints each;
// every tenth has a NodePort. As in svcproxy-bench, each Service's first
// endpoint runs on this node and the others on another node.
func largeModel(services, endpoints int) *model.Model {
	m := newModel([]string{podCIDR}, nil...)
	m.Services = make([]*model.ServicePort, 0, services)
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
			n := i*endpoints + j
			ep := model.Endpoint{IP: netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)}), Port: 8080, Ready: true, Serving: true, NodeName: "node-b"}
			if j == 0 {
				ep.NodeName, ep.Local = "node-a", true
			}
			ep.Hash = model.EndpointHash(sp.Name, ep)
			sp.ClusterEndpoints = append(sp.ClusterEndpoints, ep)
		}
		m.Services = append(m.Services, sp)
	}
	return m
}

func BenchmarkRender(b *testing.B) {
	m := largeModel(10000, 10)
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		size = len(Render(m).Payload())
	}
	b.ReportMetric(float64(size)/1e6, "MB-payload")
}
