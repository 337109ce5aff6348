package conntrack

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// svcPort returns service port ns/name:p of proto with cluster IP
// 172.30.0.<n> port 53 and ready cluster endpoints at eps ("ip:port").
func svcPort(name string, proto model.Protocol, n byte, eps ...string) *model.ServicePort {
	sp := &model.ServicePort{
		Name:      model.PortName{Namespace: "ns", Name: name, Port: "p", Protocol: proto},
		ClusterIP: netip.AddrFrom4([4]byte{172, 30, 0, n}),
		Port:      53,
	}
	for _, e := range eps {
		a := ap(e)
		sp.ClusterEndpoints = append(sp.ClusterEndpoints, model.Endpoint{IP: a.Addr(), Port: a.Port(), Ready: true, Serving: true})
	}
	sp.HasEndpoints = len(eps) > 0
	return sp
}

// mdl returns an IPv4 model of sps.
func mdl(sps ...*model.ServicePort) *model.Model {
	return &model.Model{Family: model.IPv4, Services: sps}
}

// equateAddrs lets cmp compare netip values.
var equateAddrs = cmpopts.EquateComparable(netip.AddrPort{}, netip.Addr{})

func TestStaleUDPEndpoints(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur *model.Model
		want      []netip.AddrPort
	}{
		{name: "no previous model", cur: mdl(svcPort("dns", model.UDP, 53, "10.1.1.5:8080"))},
		{name: "unchanged", prev: mdl(svcPort("dns", model.UDP, 53, "10.1.1.5:8080")), cur: mdl(svcPort("dns", model.UDP, 53, "10.1.1.5:8080"))},
		{
			name: "endpoint removed",
			prev: mdl(svcPort("dns", model.UDP, 53, "10.1.1.5:8080", "10.1.3.5:8080")),
			cur:  mdl(svcPort("dns", model.UDP, 53, "10.1.3.5:8080")),
			want: []netip.AddrPort{ap("10.1.1.5:8080")},
		},
		{
			name: "endpoint port changed",
			prev: mdl(svcPort("dns", model.UDP, 53, "10.1.1.5:8080")),
			cur:  mdl(svcPort("dns", model.UDP, 53, "10.1.1.5:8081")),
			want: []netip.AddrPort{ap("10.1.1.5:8080")},
		},
		{
			name: "service removed, endpoints sorted and deduplicated",
			prev: mdl(svcPort("a", model.UDP, 53, "10.1.3.5:8080", "10.1.1.5:8080"), svcPort("b", model.UDP, 54, "10.1.1.5:8080")),
			cur:  nil,
			want: []netip.AddrPort{ap("10.1.1.5:8080"), ap("10.1.3.5:8080")},
		},
		{
			name: "endpoint left one service, stays in another",
			prev: mdl(svcPort("a", model.UDP, 53, "10.1.1.5:8080"), svcPort("b", model.UDP, 54, "10.1.1.5:8080")),
			cur:  mdl(svcPort("a", model.UDP, 53), svcPort("b", model.UDP, 54, "10.1.1.5:8080")),
			want: []netip.AddrPort{ap("10.1.1.5:8080")},
		},
		{
			name: "TCP ignored",
			prev: mdl(svcPort("web", model.TCP, 80, "10.1.1.5:8080")),
			cur:  mdl(svcPort("web", model.TCP, 80)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, StaleUDPEndpoints(tt.prev, tt.cur), equateAddrs); diff != "" {
				t.Errorf("StaleUDPEndpoints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStaleUDPEndpointsLocalPolicy(t *testing.T) {
	local := func(eps ...string) *model.ServicePort {
		sp := svcPort("dns", model.UDP, 53)
		sp.InternalPolicyLocal = true
		for _, e := range eps {
			a := ap(e)
			sp.LocalEndpoints = append(sp.LocalEndpoints, model.Endpoint{IP: a.Addr(), Port: a.Port(), Local: true, Ready: true})
		}
		sp.HasEndpoints = true
		return sp
	}
	got := StaleUDPEndpoints(mdl(local("10.1.1.5:8080", "10.1.3.5:8080")), mdl(local("10.1.3.5:8080")))
	if diff := cmp.Diff([]netip.AddrPort{ap("10.1.1.5:8080")}, got, equateAddrs); diff != "" {
		t.Errorf("StaleUDPEndpoints (-want +got):\n%s", diff)
	}
}

func TestRevivedUDPServiceAddrs(t *testing.T) {
	withVIPs := svcPort("lb", model.UDP, 60, "10.1.1.5:8080")
	withVIPs.ExternalIPs = []netip.Addr{addr("198.51.100.20")}
	withVIPs.LoadBalancerIPs = []netip.Addr{addr("192.0.2.10")}
	tests := []struct {
		name      string
		prev, cur *model.Model
		want      []netip.AddrPort
	}{
		{name: "still has endpoints", prev: mdl(svcPort("dns", model.UDP, 53, "10.1.1.5:8080")), cur: mdl(svcPort("dns", model.UDP, 53, "10.1.3.5:8080"))},
		{name: "still has none", prev: mdl(svcPort("dns", model.UDP, 53)), cur: mdl(svcPort("dns", model.UDP, 53))},
		{
			name: "gained endpoints",
			prev: mdl(svcPort("dns", model.UDP, 53)),
			cur:  mdl(svcPort("dns", model.UDP, 53, "10.1.1.5:8080")),
			want: []netip.AddrPort{ap("172.30.0.53:53")},
		},
		{
			name: "new service with every kind of address",
			prev: nil,
			cur:  mdl(withVIPs),
			want: []netip.AddrPort{ap("172.30.0.60:53"), ap("192.0.2.10:53"), ap("198.51.100.20:53")},
		},
		{name: "TCP ignored", prev: mdl(svcPort("web", model.TCP, 80)), cur: mdl(svcPort("web", model.TCP, 80, "10.1.1.5:8080"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, RevivedUDPServiceAddrs(tt.prev, tt.cur), equateAddrs); diff != "" {
				t.Errorf("RevivedUDPServiceAddrs (-want +got):\n%s", diff)
			}
		})
	}
}
