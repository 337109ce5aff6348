package model

import (
	"crypto/sha256"
	"encoding/base32"
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

// TestHashesAreKubeProxys checks both hashes against kube-proxy's
// definition, written out the plain way: base32 of the SHA-256 of the
// port name, the protocol and, for an endpoint, "ip:port", cut to 16
// characters.
func TestHashesAreKubeProxys(t *testing.T) {
	plain := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return base32.StdEncoding.EncodeToString(sum[:])[:16]
	}
	names := []PortName{{"ns1", "svc1", "p80", TCP}, {"ns", "unnamed", "", UDP}, {"a-long-namespace", "a-long-service-name", "https-alt", SCTP}}
	endpoints := []Endpoint{{IP: netip.MustParseAddr("10.1.0.5"), Port: 8080}, {IP: netip.MustParseAddr("fd00:10::5"), Port: 443}}
	for _, name := range names {
		if got, want := ServicePortHash(name), plain(name.String()+string(name.Protocol)); got != want {
			t.Errorf("ServicePortHash(%v) = %q, want %q", name, got, want)
		}
		for _, ep := range endpoints {
			if got, want := EndpointHash(name, ep), plain(name.String()+string(name.Protocol)+ep.String()); got != want {
				t.Errorf("EndpointHash(%v, %v) = %q, want %q", name, ep, got, want)
			}
		}
	}
}
