package tracer

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseExpectations(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []Expectation
		wantErr string
	}{
		{
			name: "pod packet, outcomes sorted and deduplicated",
			text: "# comment\n\n10.1.1.9 tcp 172.30.0.10:80 => 10.1.2.6:8080 10.1.1.5:8080+masq 10.1.2.6:8080\n",
			want: []Expectation{{Line: 3, Want: "10.1.1.5:8080+masq 10.1.2.6:8080", Packet: Packet{
				Src: netip.MustParseAddr("10.1.1.9"), Dst: netip.MustParseAddr("172.30.0.10"), Protocol: "tcp", Port: 80}}},
		},
		{
			name: "node packet over IPv6",
			text: "node fd00:192::10 udp [fd00:30::10]:53 => reject",
			want: []Expectation{{Line: 1, Want: "reject", Packet: Packet{FromNode: true,
				Src: netip.MustParseAddr("fd00:192::10"), Dst: netip.MustParseAddr("fd00:30::10"), Protocol: "udp", Port: 53}}},
		},
		{
			name: "one backend's node packet",
			text: "nftables node 192.168.0.10 tcp 172.30.0.10:81 => reject",
			want: []Expectation{{Line: 1, Backend: "nftables", Want: "reject", Packet: Packet{FromNode: true,
				Src: netip.MustParseAddr("192.168.0.10"), Dst: netip.MustParseAddr("172.30.0.10"), Protocol: "tcp", Port: 81}}},
		},
		{name: "missing arrow", text: "10.1.1.9 tcp 172.30.0.10:80 drop", wantErr: "line 1: missing =>"},
		{name: "no outcome", text: "10.1.1.9 tcp 172.30.0.10:80 =>", wantErr: "no outcome"},
		{name: "bad outcome", text: "10.1.1.9 tcp 172.30.0.10:80 => dropped", wantErr: `bad outcome "dropped"`},
		{name: "bad source", text: "10.1.1 tcp 172.30.0.10:80 => drop", wantErr: "line 1"},
		{name: "missing port", text: "10.1.1.9 tcp 172.30.0.10 => drop", wantErr: "line 1"},
		{name: "too many fields", text: "node 10.1.1.9 x tcp 172.30.0.10:80 => drop", wantErr: "want [node] SRC PROTO DST:PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExpectations(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d expectations, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("expectation %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestResultString(t *testing.T) {
	ep := netip.MustParseAddrPort("10.1.1.5:8080")
	r := Result{
		{Verdict: Accept, Endpoint: ep, Masquerade: true},
		{Verdict: Drop},
		{Verdict: Accept, Endpoint: ep, Masquerade: true},
		{Verdict: Accept},
	}.Normalize()
	if got, want := r.String(), "10.1.1.5:8080+masq accept drop"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if p := (Packet{FromNode: true, Src: netip.MustParseAddr("192.168.0.10"), Dst: ep.Addr(), Protocol: "tcp", Port: 80}); p.String() != "node 192.168.0.10 tcp 10.1.1.5:80" {
		t.Errorf("Packet.String() = %q", p.String())
	}
}
