package iptrace

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/tracer"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// Address plan (docs/test-addresses.md): the node is 192.168.0.10, and
// 192.168.0.99 is on its network but not its own; pods live in 10.1.0.0/16;
// external clients are in 203.0.113.0/24; the VIP is 172.30.0.1.
var node = []netip.Addr{netip.MustParseAddr("192.168.0.10")}

// payload joins lines into a restore payload.
func payload(lines ...string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

// natPrelude hooks KUBE-SERVICES and KUBE-POSTROUTING into nat and gives
// KUBE-POSTROUTING the usual mark-based masquerade.
var natPrelude = []string{
	"*nat",
	`# jump: -A PREROUTING -m comment --comment "portals" -j KUBE-SERVICES`,
	`# jump: -A OUTPUT -m comment --comment "portals" -j KUBE-SERVICES`,
	"# jump: -A POSTROUTING -j KUBE-POSTROUTING",
	":KUBE-SERVICES - [0:0]",
	":KUBE-POSTROUTING - [0:0]",
	":KUBE-MARK-MASQ - [0:0]",
	"-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
	"-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
	"-A KUBE-POSTROUTING -j MASQUERADE --random-fully",
	"-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
}

func nat(lines ...string) []byte {
	return payload(append(append(append([]string{}, natPrelude...), lines...), "COMMIT")...)
}

func pkt(fromNode bool, src, dst string, port uint16) tracer.Packet {
	return tracer.Packet{
		FromNode: fromNode,
		Src:      netip.MustParseAddr(src),
		Dst:      netip.MustParseAddr(dst),
		Protocol: model.TCP,
		Port:     port,
	}
}

// podPacket is a pod's packet to the VIP.
var podPacket = pkt(false, "10.1.0.9", "172.30.0.1", 80)

type traceCase struct {
	name    string
	payload []byte
	packet  tracer.Packet
	want    string
}

var traceCases = []traceCase{
	{
		name:    "no rules accept untouched",
		payload: nat(),
		packet:  podPacket,
		want:    "accept",
	},
	{
		name: "statistic follows both branches",
		payload: nat(
			":SVC - [0:0]", ":A - [0:0]", ":B - [0:0]", ":C - [0:0]",
			`-A KUBE-SERVICES -m comment --comment "svc" -m tcp -p tcp -d 172.30.0.1 --dport 80 -j SVC`,
			"-A SVC -m statistic --mode random --probability 0.3333333333 -j A",
			"-A SVC -m statistic --mode random --probability 0.5000000000 -j B",
			"-A SVC -j C",
			"-A A -m tcp -p tcp -j DNAT --to-destination 10.1.0.1:8080",
			"-A B -m tcp -p tcp -j DNAT --to-destination 10.1.0.2:8080",
			"-A C -m tcp -p tcp -j DNAT --to-destination 10.1.0.3:8080",
		),
		packet: podPacket,
		want:   "10.1.0.1:8080 10.1.0.2:8080 10.1.0.3:8080",
	},
	{
		name: "port mismatch is not DNATed",
		payload: nat(
			":SEP - [0:0]",
			"-A KUBE-SERVICES -m tcp -p tcp -d 172.30.0.1 --dport 443 -j SEP",
			"-A SEP -m tcp -p tcp -j DNAT --to-destination 10.1.0.1:8080",
		),
		packet: podPacket,
		want:   "accept",
	},
	{
		name: "mark set before DNAT masquerades",
		payload: nat(
			":SEP - [0:0]",
			"-A KUBE-SERVICES -m tcp -p tcp -d 172.30.0.1 --dport 80 -j SEP",
			"-A SEP -s 10.1.0.9 -j KUBE-MARK-MASQ",
			"-A SEP -m tcp -p tcp -j DNAT --to-destination 10.1.0.9:8080",
		),
		packet: podPacket,
		want:   "10.1.0.9:8080+masq",
	},
	{
		name: "negated source marks only outside traffic",
		payload: nat(
			":SEP - [0:0]",
			"-A KUBE-SERVICES -m tcp -p tcp -d 172.30.0.1 --dport 80 ! -s 10.1.0.0/16 -j KUBE-MARK-MASQ",
			"-A KUBE-SERVICES -m tcp -p tcp -d 172.30.0.1 --dport 80 -j SEP",
			"-A SEP -m tcp -p tcp -j DNAT --to-destination 10.1.0.1:8080",
		),
		packet: pkt(true, "192.168.0.10", "172.30.0.1", 80),
		want:   "10.1.0.1:8080+masq",
	},
	{
		name: "RETURN skips the rest of the chain",
		payload: nat(
			":SKIP - [0:0]", ":SEP - [0:0]",
			"-A KUBE-SERVICES -j SKIP",
			"-A KUBE-SERVICES -m tcp -p tcp -j DNAT --to-destination 10.1.0.2:8080",
			"-A SKIP -s 10.1.0.0/16 -j RETURN",
			"-A SKIP -j SEP",
			"-A SEP -m tcp -p tcp -j DNAT --to-destination 10.1.0.1:8080",
		),
		packet: podPacket,
		want:   "10.1.0.2:8080",
	},
	{
		name: "goto returns past the caller",
		payload: nat(
			":G - [0:0]",
			"-A KUBE-SERVICES -g G",
			"-A KUBE-SERVICES -m tcp -p tcp -j DNAT --to-destination 10.1.0.2:8080",
			"-A G -j RETURN",
		),
		packet: podPacket,
		want:   "accept",
	},
	{
		name: "forked branches that return each go on",
		payload: nat(
			":FORK - [0:0]", ":A - [0:0]",
			"-A KUBE-SERVICES -j FORK",
			"-A KUBE-SERVICES -m tcp -p tcp -j DNAT --to-destination 10.1.0.2:8080",
			"-A FORK -m statistic --mode random --probability 0.5000000000 -j A",
			"-A A -j KUBE-MARK-MASQ",
		),
		packet: podPacket,
		want:   "10.1.0.2:8080 10.1.0.2:8080+masq",
	},
	{
		name: "recent rcheck never matches the first packet",
		payload: nat(
			":SEP - [0:0]",
			"-A KUBE-SERVICES -m recent --name SEP --rcheck --seconds 10 --reap -j SEP",
			"-A SEP -m recent --name SEP --set -m tcp -p tcp -j DNAT --to-destination 10.1.0.1:8080",
		),
		packet: podPacket,
		want:   "accept",
	},
	{
		name: "addrtype LOCAL sends node traffic to nodeports",
		payload: nat(
			":KUBE-NODEPORTS - [0:0]",
			"-A KUBE-SERVICES -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS",
			"-A KUBE-NODEPORTS -m tcp -p tcp --dport 30080 -j KUBE-MARK-MASQ",
			"-A KUBE-NODEPORTS -m tcp -p tcp --dport 30080 -j DNAT --to-destination 10.1.0.1:8080",
		),
		packet: pkt(false, "203.0.113.7", "192.168.0.10", 30080),
		want:   "10.1.0.1:8080+masq",
	},
	{
		name: "addrtype LOCAL excludes other addresses",
		payload: nat(
			":KUBE-NODEPORTS - [0:0]",
			"-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
			"-A KUBE-NODEPORTS -m tcp -p tcp --dport 30080 -j DNAT --to-destination 10.1.0.1:8080",
		),
		packet: pkt(false, "203.0.113.7", "192.168.0.99", 30080),
		want:   "accept",
	},
	{
		name: "local delivery is not masqueraded",
		payload: nat(
			"-A KUBE-SERVICES -j KUBE-MARK-MASQ",
		),
		packet: pkt(false, "203.0.113.7", "192.168.0.10", 22),
		want:   "accept",
	},
	{
		name: "filter REJECT on forward path",
		payload: payload(
			"*filter",
			`# jump: -A FORWARD -m conntrack --ctstate NEW -m comment --comment "portals" -j KUBE-SERVICES`,
			":KUBE-SERVICES - [0:0]",
			`-A KUBE-SERVICES -m comment --comment "ns/svc has no endpoints" -m tcp -p tcp -d 172.30.0.1 --dport 80 -j REJECT`,
			"COMMIT",
		),
		packet: podPacket,
		want:   "reject",
	},
	{
		name: "filter DROP on input path",
		payload: payload(
			"*filter",
			"# jump: -A INPUT -m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES",
			":KUBE-EXTERNAL-SERVICES - [0:0]",
			"-A KUBE-EXTERNAL-SERVICES -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP",
			"COMMIT",
		),
		packet: pkt(false, "203.0.113.7", "192.168.0.10", 30080),
		want:   "drop",
	},
	{
		name: "conntrack RELATED,ESTABLISHED does not match a new packet",
		payload: payload(
			"*filter",
			"# jump: -A FORWARD -j KUBE-FORWARD",
			":KUBE-FORWARD - [0:0]",
			"-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
			"-A KUBE-FORWARD -j DROP",
			"COMMIT",
		),
		packet: podPacket,
		want:   "drop",
	},
	{
		name: "ACCEPT in a jumped chain ends the built-in chain",
		payload: payload(
			"*filter",
			"# jump: -A FORWARD -j KUBE-FORWARD",
			"# jump: -A FORWARD -j KUBE-SERVICES",
			":KUBE-FORWARD - [0:0]",
			":KUBE-SERVICES - [0:0]",
			"-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT",
			"-A KUBE-SERVICES -j DROP",
			"COMMIT",
		),
		packet: podPacket,
		want:   "drop",
	},
	{
		name: "node traffic passes filter OUTPUT",
		payload: payload(
			"*filter",
			"# jump: -A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES",
			":KUBE-SERVICES - [0:0]",
			"-A KUBE-SERVICES -m tcp -p tcp -d 172.30.0.1 --dport 80 -j REJECT",
			"COMMIT",
		),
		packet: pkt(true, "192.168.0.10", "172.30.0.1", 80),
		want:   "reject",
	},
}

func TestTrace(t *testing.T) {
	for _, tt := range traceCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Trace(tt.payload, node, tt.packet)
			if err != nil {
				t.Fatalf("Trace: %v", err)
			}
			if got.String() != tt.want {
				t.Errorf("Trace(%v) = %q, want %q", tt.packet, got, tt.want)
			}
		})
	}
}

func TestTraceMarkAcrossTables(t *testing.T) {
	// The nat table's mark must still be there in filter FORWARD.
	p := payload(
		"*filter",
		"# jump: -A FORWARD -j KUBE-FORWARD",
		":KUBE-FORWARD - [0:0]",
		"-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT",
		"-A KUBE-FORWARD -j DROP",
		"COMMIT",
		"*nat",
		"# jump: -A PREROUTING -j KUBE-MARK-MASQ",
		":KUBE-MARK-MASQ - [0:0]",
		"-A KUBE-MARK-MASQ -m statistic --mode random --probability 0.5000000000 -j MARK --or-mark 0x4000",
		"COMMIT",
	)
	got, err := Trace(p, node, pkt(false, "10.1.0.9", "172.30.0.1", 80))
	if err != nil {
		t.Fatalf("Trace: %v", err)
	}
	if want := "accept drop"; got.String() != want {
		t.Errorf("Trace = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"unknown match", nat("-A KUBE-SERVICES -m set --match-set x dst -j RETURN"), "unknown match module"},
		{"unknown option", nat("-A KUBE-SERVICES -o eth0 -j RETURN"), "unknown option"},
		{"unknown chain", nat("-A KUBE-SERVICES -j KUBE-NOPE"), "unknown chain"},
		{"undeclared chain", nat("-A KUBE-NOPE -j RETURN"), "undeclared chain"},
		{"dport without protocol", nat("-A KUBE-SERVICES --dport 80 -j RETURN"), "--dport needs"},
		{"module without -p", nat("-A KUBE-SERVICES -m tcp -j RETURN"), "without -p"},
		{"REJECT in nat", nat("-A KUBE-SERVICES -j REJECT"), "only valid in the filter"},
		{"DNAT in filter", payload("*filter", ":X - [0:0]", "-A X -p tcp -j DNAT --to-destination 10.1.0.5:8080", "COMMIT"), "only valid in the nat"},
		{"words after target", nat("-A KUBE-SERVICES -j RETURN -s 203.0.113.7"), "after the target"},
		{"missing COMMIT", payload("*nat", ":X - [0:0]"), "missing COMMIT"},
		{"unterminated quote", nat(`-A KUBE-SERVICES -m comment --comment "x -j RETURN`), "unterminated quote"},
		{"unknown target options", nat("-A KUBE-SERVICES -j MARK --set-mark 1"), "unsupported option"},
		{"declared twice", nat(":KUBE-SERVICES - [0:0]"), "declared twice"},
		{"host bits", nat("-A KUBE-SERVICES -s 10.1.0.1/16 -j RETURN"), "host bits"},
		{"long comment", nat(`-A KUBE-SERVICES -m comment --comment "` + strings.Repeat("x", 256) + `" -j RETURN`), "1-255 characters"},
		{"jump loop", nat(":L - [0:0]", "-A KUBE-SERVICES -j L", "-A L -j L"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse(tt.payload)
			if err == nil {
				// Loops are found while walking, not while parsing.
				_, err = rs.Trace(node, pkt(false, "10.1.0.9", "172.30.0.1", 80))
			}
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
