package nftables

import (
	"net/netip"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/internal/tracer"
	nfttrace "github.com/svcproxy/svcproxy/internal/tracer/nftables"
	"github.com/svcproxy/svcproxy/pkg/model"
)

var (
	withCIDRs = model.Config{ClusterCIDRs: []netip.Prefix{clusterCIDR, clusterCIDR2}, MasqueradeBit: model.DefaultMasqueradeBit}
	noCIDRs   = model.Config{MasqueradeBit: model.DefaultMasqueradeBit}
	node4     = []netip.Addr{nodeIP}
	twoEps    = []string{"L10.1.0.5:8080", "R10.2.0.5:8080"}
)

func nodePort(port uint16) func(*model.ServicePort) {
	return func(sp *model.ServicePort) { sp.NodePort = port }
}

func localPolicy(sp *model.ServicePort) { sp.ExternalPolicyLocal = true }

func loadBalancer(ranges ...string) func(*model.ServicePort) {
	return func(sp *model.ServicePort) {
		sp.LoadBalancerIPs = []netip.Addr{lbIP}
		for _, r := range ranges {
			sp.SourceRanges = append(sp.SourceRanges, netip.MustParsePrefix(r))
			sp.Firewall = true
		}
	}
}

func affinity(sp *model.ServicePort) { sp.AffinitySeconds = 10800 }

type behaviourCase struct {
	name  string
	model *model.Model
	// trace lines: "[node] SRC PROTO DST:PORT => OUTCOME..."
	trace string
}

var behaviourCases = []behaviourCase{
	{"cluster IP", newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, twoEps)), `
		10.1.0.1 tcp 172.30.0.1:80 => 10.1.0.5:8080 10.2.0.5:8080
		node 192.168.0.10 tcp 172.30.0.1:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		203.0.113.7 tcp 172.30.0.1:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		10.1.0.1 udp 172.30.0.1:80 => reject
		10.1.0.1 tcp 172.30.0.1:81 => reject
		node 192.168.0.10 tcp 172.30.0.1:81 => reject
		10.1.0.1 tcp 172.30.0.2:81 => accept`},
	{"cluster IP without cluster CIDRs is never masqueraded", newModel(model.IPv4, noCIDRs, node4, svc("a", clusterIP, twoEps)), `
		node 192.168.0.10 tcp 172.30.0.1:80 => 10.1.0.5:8080 10.2.0.5:8080`},
	{"masquerade all", newModel(model.IPv4, model.Config{MasqueradeAll: true, MasqueradeBit: 3}, node4, svc("a", clusterIP, twoEps)), `
		10.1.0.1 tcp 172.30.0.1:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq`},
	{"no endpoints rejects", newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, nil, nodePort(30080))), `
		10.1.0.1 tcp 172.30.0.1:80 => reject
		node 192.168.0.10 tcp 172.30.0.1:80 => reject
		203.0.113.7 tcp 192.168.0.10:30080 => reject
		203.0.113.7 tcp 127.0.0.1:30080 => accept`},
	{"NodePort is masqueraded", newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, twoEps, nodePort(30080))), `
		203.0.113.7 tcp 192.168.0.10:30080 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		node 192.168.0.10 tcp 192.168.0.10:30080 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		203.0.113.7 tcp 192.168.0.10:30081 => accept`},
	{"NodePortAddresses restrict NodePorts", newModel(model.IPv4,
		model.Config{NodePortAddresses: []netip.Prefix{netip.MustParsePrefix("192.168.0.10/32")}},
		[]netip.Addr{nodeIP, netip.MustParseAddr("192.168.0.11")}, svc("a", clusterIP, twoEps, nodePort(30080))), `
		203.0.113.7 tcp 192.168.0.10:30080 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		203.0.113.7 tcp 192.168.0.11:30080 => accept`},
	{"external IP", newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, twoEps,
		func(sp *model.ServicePort) { sp.ExternalIPs = []netip.Addr{externalIP} })), `
		203.0.113.7 tcp 198.51.100.20:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq`},
	{"load balancer source ranges", newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, twoEps,
		loadBalancer("203.0.113.0/28"))), `
		203.0.113.7 tcp 192.0.2.10:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		203.0.113.200 tcp 192.0.2.10:80 => drop
		node 192.0.2.10 tcp 192.0.2.10:80 => drop
		203.0.113.200 tcp 172.30.0.1:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq`},
	{"source range holding the node lets it reach its own VIP", newModel(model.IPv4, withCIDRs, node4,
		svc("a", clusterIP, twoEps, loadBalancer("192.168.0.0/24"))), `
		node 192.0.2.10 tcp 192.0.2.10:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		203.0.113.7 tcp 192.0.2.10:80 => drop`},
	{"firewall without ranges of this family drops", newModel(model.IPv4, withCIDRs, node4,
		svc("a", clusterIP, twoEps, func(sp *model.ServicePort) { sp.LoadBalancerIPs = []netip.Addr{lbIP}; sp.Firewall = true })), `
		203.0.113.7 tcp 192.0.2.10:80 => drop`},
	{"local external policy", newModel(model.IPv4, withCIDRs, node4,
		svc("a", clusterIP, twoEps, nodePort(30080), loadBalancer(), localPolicy)), `
		203.0.113.7 tcp 192.168.0.10:30080 => 10.1.0.5:8080
		203.0.113.7 tcp 192.0.2.10:80 => 10.1.0.5:8080
		10.2.0.9 tcp 192.0.2.10:80 => 10.1.0.5:8080 10.2.0.5:8080
		10.2.0.9 tcp 192.168.0.10:30080 => 10.1.0.5:8080 10.2.0.5:8080
		node 192.168.0.10 tcp 192.168.0.10:30080 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		node 192.168.0.10 tcp 192.0.2.10:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		203.0.113.7 tcp 172.30.0.1:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq`},
	{"local external policy without local endpoints drops", newModel(model.IPv4, withCIDRs, node4,
		svc("a", clusterIP, []string{"R10.2.0.5:8080"}, nodePort(30080), loadBalancer(), localPolicy)), `
		203.0.113.7 tcp 192.168.0.10:30080 => drop
		203.0.113.7 tcp 192.0.2.10:80 => drop
		10.1.0.1 tcp 172.30.0.1:80 => 10.2.0.5:8080`},
	{"local internal policy", newModel(model.IPv4, withCIDRs, node4,
		svc("a", clusterIP, twoEps, func(sp *model.ServicePort) { sp.InternalPolicyLocal = true })), `
		10.1.0.1 tcp 172.30.0.1:80 => 10.1.0.5:8080`},
	{"hairpin", newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, twoEps)), `
		10.1.0.5 tcp 172.30.0.1:80 => 10.1.0.5:8080+masq 10.2.0.5:8080`},
	{"affinity", newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, twoEps, affinity, nodePort(30080))), `
		10.1.0.1 tcp 172.30.0.1:80 => 10.1.0.5:8080 10.2.0.5:8080
		203.0.113.7 tcp 172.30.0.1:80 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq
		203.0.113.7 tcp 192.168.0.10:30080 => 10.1.0.5:8080+masq 10.2.0.5:8080+masq`},
	{"affinity with local policy", newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, twoEps, affinity, nodePort(30080), localPolicy)), `
		203.0.113.7 tcp 192.168.0.10:30080 => 10.1.0.5:8080
		10.2.0.9 tcp 192.168.0.10:30080 => 10.1.0.5:8080 10.2.0.5:8080`},
	{"a destination claimed twice goes to the first port", newModel(model.IPv4, withCIDRs, node4,
		svc("a", clusterIP, []string{"R10.2.0.5:8080"}), svc("b", clusterIP, []string{"R10.2.0.6:8080"})), `
		10.1.0.1 tcp 172.30.0.1:80 => 10.2.0.5:8080`},
	{"IPv6", newModel(model.IPv6, model.Config{ClusterCIDRs: []netip.Prefix{clusterCIDR6}, MasqueradeBit: 14}, []netip.Addr{nodeIP6},
		svc("a", clusterIP6, []string{"L[fd00:1::1:5]:8080", "R[fd00:1::2:5]:8080"}, nodePort(30080))), `
		fd00:1::1:1 tcp [fd00:30::1]:80 => [fd00:1::1:5]:8080 [fd00:1::2:5]:8080
		2001:db8:113::7 tcp [fd00:30::1]:80 => [fd00:1::1:5]:8080+masq [fd00:1::2:5]:8080+masq
		2001:db8:113::7 tcp [fd00:192::10]:30080 => [fd00:1::1:5]:8080+masq [fd00:1::2:5]:8080+masq
		fd00:1::1:5 tcp [fd00:30::1]:80 => [fd00:1::1:5]:8080+masq [fd00:1::2:5]:8080
		2001:db8:113::7 tcp [::1]:30080 => accept`},
}

func TestRenderBehaviour(t *testing.T) {
	for _, tt := range behaviourCases {
		t.Run(tt.name, func(t *testing.T) {
			table := load(t, tt.model)
			exps, err := tracer.ParseExpectations(tt.trace)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range exps {
				routes, err := nfttrace.Routes(table, tt.model.Node.IPs, e.Packet)
				got := tracer.Outcomes(routes)
				if err != nil {
					t.Fatalf("%v\n%s", err, RenderRuleset(tt.model).Text)
				}
				if got.String() != e.Want {
					t.Errorf("%s => %s, want %s", e.Packet, got, e.Want)
				}
			}
		})
	}
}

func TestFamily(t *testing.T) {
	tests := []struct {
		name string
		in   model.Family
		want knftables.Family
	}{
		{"ipv4", model.IPv4, knftables.IPv4Family},
		{"ipv6", model.IPv6, knftables.IPv6Family},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Family(tt.in); got != tt.want {
				t.Errorf("Family(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
