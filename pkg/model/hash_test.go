package model

import (
	"net/netip"
	"testing"
)

func TestServicePortHash(t *testing.T) {
	tests := []struct {
		name string
		port PortName
		want string
	}{
		// The documented example: kube-proxy's chain for ns1/svc1:p80 is
		// KUBE-SVC-XPGD46QRK7WJZT7O.
		{"named tcp port", PortName{"ns1", "svc1", "p80", TCP}, "XPGD46QRK7WJZT7O"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ServicePortHash(tt.port); got != tt.want {
				t.Errorf("ServicePortHash(%v) = %q, want %q", tt.port, got, tt.want)
			}
		})
	}
}

func TestServicePortHashDependsOnProtocol(t *testing.T) {
	tcp := ServicePortHash(PortName{"ns1", "svc1", "p80", TCP})
	udp := ServicePortHash(PortName{"ns1", "svc1", "p80", UDP})
	if tcp == udp {
		t.Errorf("TCP and UDP ports share hash %q", tcp)
	}
}

func TestEndpointHash(t *testing.T) {
	name := PortName{"ns1", "svc1", "p80", TCP}
	a := EndpointHash(name, Endpoint{IP: netip.MustParseAddr("10.1.0.5"), Port: 80})
	b := EndpointHash(name, Endpoint{IP: netip.MustParseAddr("10.1.0.5"), Port: 81})
	if len(a) != 16 || a == b {
		t.Errorf("EndpointHash: got %q and %q, want two distinct 16-character hashes", a, b)
	}
}
