package conntrack

// Address plan: client pod 10.1.2.5 / fd00:1:2::5; endpoints 10.1.1.5:8080
// and 10.1.3.5:8080 / [fd00:1:1::5]:8080; Service IPs 172.30.0.53 and
// fd00:30::53, port 53.

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// flow builds a conntrack flow from client:40000 to origDst, answered by
// replySrc, with protocol proto.
func flow(proto uint8, client, origDst string, dport uint16, replySrc string, rport uint16) *netlink.ConntrackFlow {
	return &netlink.ConntrackFlow{
		Forward: netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP(client), SrcPort: 40000, DstIP: net.ParseIP(origDst), DstPort: dport},
		Reverse: netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP(replySrc), SrcPort: rport, DstIP: net.ParseIP(client), DstPort: 40000},
	}
}

func TestEndpointFilter(t *testing.T) {
	filter := endpointFilter{ap("10.1.1.5:8080"): true, ap("[fd00:1:1::5]:8080"): true}
	tests := []struct {
		name string
		flow *netlink.ConntrackFlow
		want bool
	}{
		{name: "DNATed to endpoint", flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "10.1.1.5", 8080), want: true},
		{name: "DNATed to endpoint, IPv6", flow: flow(unix.IPPROTO_UDP, "fd00:1:2::5", "fd00:30::53", 53, "fd00:1:1::5", 8080), want: true},
		{name: "DNATed to other endpoint", flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "10.1.3.5", 8080)},
		{name: "DNATed to endpoint IP, other port", flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "10.1.1.5", 8081)},
		{name: "addressed to endpoint directly", flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "10.1.1.5", 8080, "10.1.1.5", 8080)},
		{name: "TCP", flow: flow(unix.IPPROTO_TCP, "10.1.2.5", "172.30.0.53", 53, "10.1.1.5", 8080)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filter.MatchConntrackFlow(tt.flow); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServiceFilter(t *testing.T) {
	tests := []struct {
		name   string
		filter serviceFilter
		flow   *netlink.ConntrackFlow
		want   bool
	}{
		{name: "never DNATed", filter: serviceFilter{addr("172.30.0.53"), 53}, flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "172.30.0.53", 53), want: true},
		{name: "DNATed", filter: serviceFilter{addr("172.30.0.53"), 53}, flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 53, "10.1.1.5", 8080), want: true},
		{name: "other port", filter: serviceFilter{addr("172.30.0.53"), 53}, flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 54, "172.30.0.53", 54)},
		{name: "any port", filter: serviceFilter{addr("172.30.0.53"), 0}, flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.53", 54, "172.30.0.53", 54), want: true},
		{name: "other IP", filter: serviceFilter{addr("172.30.0.53"), 53}, flow: flow(unix.IPPROTO_UDP, "10.1.2.5", "172.30.0.54", 53, "172.30.0.54", 53)},
		{name: "IPv6", filter: serviceFilter{addr("fd00:30::53"), 53}, flow: flow(unix.IPPROTO_UDP, "fd00:1:2::5", "fd00:30::53", 53, "fd00:30::53", 53), want: true},
		{name: "TCP", filter: serviceFilter{addr("172.30.0.53"), 53}, flow: flow(unix.IPPROTO_TCP, "10.1.2.5", "172.30.0.53", 53, "172.30.0.53", 53)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.MatchConntrackFlow(tt.flow); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}
