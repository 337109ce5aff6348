package sync

import (
	"net/netip"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

func TestStaleUDPEndpoints(t *testing.T) {
	ep := func(s string) model.Endpoint {
		ap := netip.MustParseAddrPort(s)
		return model.Endpoint{IP: ap.Addr(), Port: ap.Port(), Ready: true}
	}
	port := func(proto model.Protocol, eps ...model.Endpoint) *model.ServicePort {
		return &model.ServicePort{Name: model.PortName{Namespace: "ns", Name: "dns", Port: string(proto), Protocol: proto}, ClusterEndpoints: eps, HasEndpoints: len(eps) > 0}
	}
	tests := []struct {
		name       string
		prev, next []*model.ServicePort
		want       string
	}{
		{"endpoint removed", []*model.ServicePort{port(model.UDP, ep("10.1.0.5:53"), ep("10.1.0.6:53"))}, []*model.ServicePort{port(model.UDP, ep("10.1.0.5:53"))}, "[10.1.0.6:53]"},
		{"service removed", []*model.ServicePort{port(model.UDP, ep("10.1.0.5:53"))}, nil, "[10.1.0.5:53]"},
		{"TCP ignored", []*model.ServicePort{port(model.TCP, ep("10.1.0.5:53"))}, nil, "[]"},
		{"nothing removed", []*model.ServicePort{port(model.UDP, ep("10.1.0.5:53"))}, []*model.ServicePort{port(model.UDP, ep("10.1.0.5:53"))}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := StaleUDPEndpoints(&model.Model{Services: tt.prev}, &model.Model{Services: tt.next})
			if s := fmtAddrPorts(got); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

func fmtAddrPorts(aps []netip.AddrPort) string {
	s := "["
	for i, ap := range aps {
		if i > 0 {
			s += " "
		}
		s += ap.String()
	}
	return s + "]"
}
