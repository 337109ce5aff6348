package nfttrace

import (
	"net/netip"
	"testing"

	"github.com/svcproxy/svcproxy/internal/tracer"
)

var node = []netip.Addr{netip.MustParseAddr("192.168.0.10")}

// table loads nft text into a Table, failing the test if Load refuses it.
func table(t *testing.T, text string) *Table {
	t.Helper()
	tbl, err := Load(text)
	if err != nil {
		t.Fatalf("loading table: %v", err)
	}
	return tbl
}

// base declares table ip t with one base chain per hook the rules below
// use.
const base = `
add table ip t
add chain ip t pre { type nat hook prerouting priority -100 ; }
add chain ip t out { type nat hook output priority -100 ; }
add chain ip t post { type nat hook postrouting priority 100 ; }
add chain ip t fwd { type filter hook forward priority -110 ; }
`

// dispatch is a small table shaped like the renderer's: a verdict map
// dispatching on the destination, a DNAT map picking an endpoint by
// numgen, masquerading by mark, and an anonymous verdict map.
const dispatch = base + `
add chain ip t mark
add chain ip t svc
add chain ip t local
add chain ip t sticky
add chain ip t a
add chain ip t b
add map ip t dst { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip t pick { typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . tcp dport ; }
add set ip t pods { type ipv4_addr ; flags interval ; }
add rule ip t pre ip daddr . meta l4proto . th dport vmap @dst
add rule ip t out ip daddr . meta l4proto . th dport vmap @dst
add rule ip t post meta mark & 0x4000 == 0x4000 meta mark set meta mark xor 0x4000 masquerade fully-random
add rule ip t fwd ip daddr 172.30.0.9 reject comment "no endpoints"
add rule ip t mark meta mark set meta mark or 0x4000
add rule ip t svc ip saddr != @pods jump mark
add rule ip t svc dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @pick
add rule ip t local fib saddr type local goto svc
add rule ip t local drop
add rule ip t sticky ip saddr 10.1.0.0/16 return
add rule ip t sticky numgen random mod 2 vmap { 0 : goto a , 1 : goto b }
add rule ip t a meta l4proto tcp dnat ip to 10.1.0.1:80
add rule ip t b meta l4proto tcp dnat ip to 10.1.0.2:80
add element ip t pods { 10.1.0.0/16, 10.2.0.0/16 }
add element ip t dst { 172.30.0.1 . tcp . 80 : goto svc, 172.30.0.2 . tcp . 80 : goto local, 172.30.0.3 . tcp . 80 : jump sticky }
add element ip t pick { 172.30.0.1 . tcp . 80 . 0 : 10.1.0.5 . 8080, 172.30.0.1 . tcp . 80 . 1 : 10.2.0.5 . 8080 }
add element ip t pick { 172.30.0.2 . tcp . 80 . 0 : 10.1.0.5 . 8080 }
`

func TestTrace(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		pkt   string
		want  string
	}{
		{"map dnat follows every numgen value", dispatch, "10.1.0.1 tcp 172.30.0.1:80", "10.1.0.5:8080 10.2.0.5:8080"},
		{"mark set by a jump leads to masquerade", dispatch, "203.0.113.1 tcp 172.30.0.1:80", "10.1.0.5:8080+masq 10.2.0.5:8080+masq"},
		{"node packets take output", dispatch, "node 192.168.0.10 tcp 172.30.0.1:80", "10.1.0.5:8080+masq 10.2.0.5:8080+masq"},
		{"unknown destination is accepted untouched", dispatch, "10.1.0.1 tcp 172.30.0.99:80", "accept"},
		{"fib saddr type local, and a DNAT map miss falls through", dispatch, "node 192.168.0.10 tcp 172.30.0.2:80", "10.1.0.5:8080+masq accept+masq"},
		{"goto then drop", dispatch, "203.0.113.1 tcp 172.30.0.2:80", "drop"},
		{"forward reject", dispatch, "10.1.0.1 tcp 172.30.0.9:80", "reject"},
		{"jump return continues the caller", dispatch, "10.1.0.1 tcp 172.30.0.3:80", "accept"},
		{"anonymous vmap branches", dispatch, "203.0.113.1 tcp 172.30.0.3:80", "10.1.0.1:80 10.1.0.2:80"},
		{"local delivery skips postrouting", dispatch, "203.0.113.1 tcp 192.168.0.10:22", "accept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trace(t, table(t, tt.rules), tt.pkt)
			if got != tt.want {
				t.Errorf("Trace(%s) = %q, want %q", tt.pkt, got, tt.want)
			}
		})
	}
}

func TestTraceRefusesUnknownExpressions(t *testing.T) {
	tests := []struct {
		name, rule string
	}{
		{"unknown match", "tcp flags syn drop"},
		{"unknown statement", "counter"},
		{"unknown ct match", "ct state established accept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parsePacket(t, "10.1.0.1 tcp 172.30.0.1:80")
			rules := base + "add rule ip t pre " + tt.rule + "\n"
			if _, err := Trace(table(t, rules), node, p); err == nil {
				t.Errorf("Trace accepted %q", tt.rule)
			}
		})
	}
}

func TestTraceRefusesTheOtherFamily(t *testing.T) {
	p := parsePacket(t, "fd00:1::1 tcp [fd00:30::1]:80")
	if _, err := Trace(table(t, dispatch), node, p); err == nil {
		t.Error("Trace walked an IPv6 packet through an ip table")
	}
}

func parsePacket(t *testing.T, s string) tracer.Packet {
	t.Helper()
	exp, err := tracer.ParseExpectations(s + " => accept")
	if err != nil {
		t.Fatal(err)
	}
	return exp[0].Packet
}

func trace(t *testing.T, tbl *Table, pkt string) string {
	t.Helper()
	res, err := Trace(tbl, node, parsePacket(t, pkt))
	if err != nil {
		t.Fatal(err)
	}
	return res.String()
}
