package conntrack

// Address plan: client pod 10.1.2.5 / fd00:1:2::5; endpoints 10.1.1.5:8080
// and 10.1.3.5:8080 / [fd00:1:1::5]:8080; Service IPs 172.30.0.53 and
// fd00:30::53, port 53.

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// flow builds a conntrack flow from client:40000 to origDst, answered by
// replySrc, with protocol proto.
func flow(proto uint8, client, origDst string, dport uint16, replySrc string, rport uint16) *netlink.ConntrackFlow {
	return &netlink.ConntrackFlow{
		Forward: netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP(client), SrcPort: 40000, DstIP: net.ParseIP(origDst), DstPort: dport},
		Reverse: netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP(replySrc), SrcPort: rport, DstIP: net.ParseIP(client), DstPort: 40000},
	}
}

// udpPort returns a UDP service port ns/dns:dns on 172.30.0.53:53 with
// NodePort 30053 and the given endpoints ("ip:port"), all chosen.
func udpPort(eps ...string) *model.ServicePort {
	sp := &model.ServicePort{
		Name:      model.PortName{Namespace: "ns", Name: "dns", Port: "dns", Protocol: model.UDP},
		ClusterIP: addr("172.30.0.53"), Port: 53, NodePort: 30053,
		ExternalIPs: []netip.Addr{addr("198.51.100.53")},
	}
	for _, e := range eps {
		a := ap(e)
		sp.ClusterEndpoints = append(sp.ClusterEndpoints, model.Endpoint{IP: a.Addr(), Port: a.Port(), Ready: true, Serving: true})
	}
	sp.HasEndpoints = len(eps) > 0
	return sp
}

// TestReconcileFilter is kube-proxy's reconciliation, case by case: what
// a UDP flow's original destination and reply source say of it.
func TestReconcileFilter(t *testing.T) {
	withOther := udpPort("10.1.3.5:8080")
	withOther.OtherServing = []netip.AddrPort{ap("10.1.1.5:8080")}
	tests := []struct {
		name string
		sp   *model.ServicePort
		flow *netlink.ConntrackFlow
		want bool
	}{
		{name: "DNATed to an endpoint it still has", sp: udpPort("10.1.1.5:8080"),
			flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "10.1.1.5", 8080)},
		{name: "DNATed to an endpoint since gone", sp: udpPort("10.1.3.5:8080"),
			flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "10.1.1.5", 8080), want: true},
		{name: "DNATed to an endpoint that still serves but takes no new traffic", sp: withOther,
			flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "10.1.1.5", 8080)},
		{name: "never DNATed, the Service had no endpoint then", sp: udpPort("10.1.1.5:8080"),
			flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "172.30.0.53", 53), want: true},
		{name: "a Service with no endpoint keeps its flows", sp: udpPort(),
			flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "10.1.1.5", 8080)},
		{name: "external IP, DNATed to an endpoint since gone", sp: udpPort("10.1.3.5:8080"),
			flow: flow(unix.IPPROTO_UDP, "203.0.113.7", "198.51.100.53", 53, "10.1.1.5", 8080), want: true},
		{name: "NodePort on any address, DNATed to an endpoint since gone", sp: udpPort("10.1.3.5:8080"),
			flow: flow(unix.IPPROTO_UDP, "203.0.113.7", "192.168.0.10", 30053, "10.1.1.5", 8080), want: true},
		{name: "NodePort, DNATed to an endpoint it still has", sp: udpPort("10.1.3.5:8080"),
			flow: flow(unix.IPPROTO_UDP, "203.0.113.7", "192.168.0.10", 30053, "10.1.3.5", 8080)},
		{name: "another port of the Service IP", sp: udpPort("10.1.3.5:8080"),
			flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 54, "172.30.0.53", 54)},
		{name: "addressed to a pod directly", sp: udpPort("10.1.3.5:8080"),
			flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "10.1.1.5", 8080, "10.1.1.5", 8080)},
		{name: "TCP", sp: udpPort("10.1.3.5:8080"),
			flow: flow(unix.IPPROTO_TCP, "10.1.2.5", "172.30.0.53", 53, "10.1.1.5", 8080)},
		{name: "IPv6", sp: func() *model.ServicePort {
			sp := udpPort("[fd00:1:3::5]:8080")
			sp.ClusterIP, sp.ExternalIPs = addr("fd00:30::53"), nil
			return sp
		}(), flow: flow(unix.IPPROTO_UDP, "fd00:1:2::5", "fd00:30::53", 53, "fd00:1:1::5", 8080), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewReconcileFilter(&model.Model{Services: []*model.ServicePort{tt.sp}})
			if got := f.MatchConntrackFlow(tt.flow); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReconcileFilterIgnoresTCPPorts(t *testing.T) {
	sp := udpPort("10.1.1.5:8080")
	sp.Name.Protocol = model.TCP
	if f := NewReconcileFilter(&model.Model{Services: []*model.ServicePort{sp}}); !f.Empty() {
		t.Error("a model of TCP ports only gives a filter that matches something")
	}
}
