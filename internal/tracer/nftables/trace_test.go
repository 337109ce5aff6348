package nfttrace

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/internal/tracer"
)

var node = []netip.Addr{netip.MustParseAddr("192.168.0.10")}

// table loads a small hand-written ip table into a Fake. Each chain line
// is "NAME [HOOK PRIORITY]" followed by its rules, one per line, indented;
// elements follow "element SET/MAP KEY [: VALUE]" lines.
func table(t *testing.T, text string) *knftables.Fake {
	t.Helper()
	fake := knftables.NewFake(knftables.IPv4Family, "t")
	tx := fake.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Add(&knftables.Map{Name: "dst", Type: "ipv4_addr . inet_proto . inet_service : verdict"})
	tx.Add(&knftables.Map{Name: "pick", TypeOf: "ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . tcp dport"})
	tx.Add(&knftables.Set{Name: "pods", Type: "ipv4_addr", Flags: []knftables.SetFlag{knftables.IntervalFlag}})
	var rules, elements []knftables.Object
	chain := ""
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		switch {
		case f[0] == "element":
			key, val, _ := strings.Cut(strings.Join(f[2:], " "), " : ")
			el := &knftables.Element{Key: strings.Split(key, " . ")}
			if val == "" {
				el.Set = f[1]
			} else {
				el.Map, el.Value = f[1], strings.Split(val, " . ")
			}
			elements = append(elements, el)
		case !strings.HasPrefix(line, " "):
			chain = f[0]
			c := &knftables.Chain{Name: chain}
			if len(f) == 3 {
				hook, prio := knftables.BaseChainHook(f[1]), knftables.BaseChainPriority(f[2])
				typ := knftables.FilterType
				if f[2] == "-100" || f[2] == "100" {
					typ = knftables.NATType
				}
				c.Type, c.Hook, c.Priority = &typ, &hook, &prio
			}
			tx.Add(c)
		default:
			rules = append(rules, &knftables.Rule{Chain: chain, Rule: strings.TrimSpace(line)})
		}
	}
	for _, o := range append(rules, elements...) {
		tx.Add(o)
	}
	if err := fake.Run(context.Background(), tx); err != nil {
		t.Fatalf("loading table: %v", err)
	}
	return fake
}

const dispatch = `
pre prerouting -100
  ip daddr . meta l4proto . th dport vmap @dst
out output -100
  ip daddr . meta l4proto . th dport vmap @dst
post postrouting 100
  meta mark & 0x4000 == 0x4000 meta mark set meta mark xor 0x4000 masquerade fully-random
fwd forward -110
  ip daddr 172.30.0.9 reject
mark
  meta mark set meta mark or 0x4000
svc
  ip saddr != @pods jump mark
  dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @pick
local
  fib saddr type local goto svc
  drop
sticky
  ip saddr 10.0.0.0/8 return
  numgen random mod 2 vmap { 0 : goto a , 1 : goto b }
a
  meta l4proto tcp dnat ip to 10.1.0.1:80
b
  meta l4proto tcp dnat ip to 10.1.0.2:80
element pods 10.0.0.0/8
element dst 172.30.0.1 . tcp . 80 : goto svc
element dst 172.30.0.2 . tcp . 80 : goto local
element dst 172.30.0.3 . tcp . 80 : jump sticky
element pick 172.30.0.1 . tcp . 80 . 0 : 10.1.0.5 . 8080
element pick 172.30.0.1 . tcp . 80 . 1 : 10.2.0.5 . 8080
element pick 172.30.0.2 . tcp . 80 . 0 : 10.1.0.5 . 8080
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
		name, rules string
	}{
		{"unknown match", "pre prerouting -100\n  tcp flags syn drop"},
		{"unknown statement", "pre prerouting -100\n  counter"},
		{"unknown ct match", "pre prerouting -100\n  ct state established accept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parsePacket(t, "10.1.0.1 tcp 172.30.0.1:80")
			if _, err := Trace(table(t, tt.rules), node, p); err == nil {
				t.Errorf("Trace accepted %q", tt.rules)
			}
		})
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

func trace(t *testing.T, fake *knftables.Fake, pkt string) string {
	t.Helper()
	res, err := Trace(fake, node, parsePacket(t, pkt))
	if err != nil {
		t.Fatal(err)
	}
	return res.String()
}
