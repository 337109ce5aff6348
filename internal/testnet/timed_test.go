package testnet

import (
	"net/netip"
	"testing"
)

// TestAskTimed checks the timed client against a kernel with no proxy
// rules: answers from the pod it asked, one per destination, then each
// kind of failure told apart. 198.51.100.99 belongs to no namespace, so
// its SYN loops between the node and the external namespace and is
// never answered.
func TestAskTimed(t *testing.T) {
	topo := New(t, podA)
	topo.Pods["pod-a"].StartEcho(t, echoPorts...)
	echo, closed := ap(podA.IPv4, tcpPort), ap(podA.IPv4, closedPort)

	got, err := AskTimed(topo.External, []netip.AddrPort{echo, echo, echo}, answerTimeout)
	if err != nil {
		t.Fatalf("AskTimed: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("AskTimed gave %d answers, want 3", len(got))
	}
	ports := map[uint16]bool{}
	for _, a := range got {
		ports[a.Client.Port()] = true
		// Connect is only checked to be measured: AskTimed fails if the
		// handshake outlasts the timeout, and how fast it was is no
		// property of the client.
		if a.Endpoint != echo || a.Client.Addr() != ExternalIPv4 || a.Connect <= 0 {
			t.Errorf("answer %+v, want endpoint %s, client %s and a measured connect time", a, echo, ExternalIPv4)
		}
	}
	if len(ports) != 3 {
		t.Errorf("three asks used source ports %v, want a new one each", ports)
	}

	tests := []struct {
		name  string
		dst   netip.AddrPort
		check func(error) bool
	}{
		{"refused", closed, Refused},
		{"timed out", ap(netip.MustParseAddr("198.51.100.99"), tcpPort), TimedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AskTimed(topo.External, []netip.AddrPort{echo, tt.dst, echo}, dropTimeout)
			if !tt.check(err) {
				t.Errorf("AskTimed error = %v, want %s", err, tt.name)
			}
			if len(got) != 1 {
				t.Errorf("AskTimed gave %d answers, want the 1 before the failure", len(got))
			}
		})
	}
}
