package iptables

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// bothEPs and bothEPsMasq are the outcomes of a packet that may reach
// either endpoint of servicePort, unmasqueraded and masqueraded.
const (
	bothEPs     = localEP + " " + remoteEP
	bothEPsMasq = localEP + "+masq " + remoteEP + "+masq"
)

// traceProbe is a packet, as packet parses it, and the outcome of its
// trace.
type traceProbe struct{ packet, want string }

type behaviourCase struct {
	name   string
	model  *model.Model
	probes []traceProbe
}

var behaviourCases = []behaviourCase{
	{
		name:  "pod to cluster IP reaches every endpoint unmasqueraded",
		model: newModel([]string{podCIDR}, servicePort()),
		probes: []traceProbe{
			{"10.1.0.9 tcp 172.30.0.41:80", bothEPs},
			{"10.1.0.9 tcp 172.30.0.41:81", "accept"},
			{"10.1.0.9 udp 172.30.0.41:80", "accept"},
		},
	},
	{
		name:  "hairpin traffic is masqueraded",
		model: newModel([]string{podCIDR}, servicePort()),
		probes: []traceProbe{
			{"10.1.0.5 tcp 172.30.0.41:80", localEP + "+masq " + remoteEP},
		},
	},
	{
		name:  "node to cluster IP is masqueraded with a cluster CIDR",
		model: newModel([]string{podCIDR}, servicePort()),
		probes: []traceProbe{
			{"node 192.168.0.10 tcp 172.30.0.41:80", bothEPsMasq},
			{"203.0.113.7 tcp 172.30.0.41:80", bothEPsMasq},
		},
	},
	{
		name:  "without cluster CIDRs nothing is masqueraded",
		model: newModel(nil, servicePort()),
		probes: []traceProbe{
			{"node 192.168.0.10 tcp 172.30.0.41:80", bothEPs},
			{"203.0.113.7 tcp 172.30.0.41:80", bothEPs},
		},
	},
	{
		name:  "with two cluster CIDRs only traffic from outside both is masqueraded",
		model: newModel([]string{podCIDR, podCIDR2}, servicePort()),
		probes: []traceProbe{
			{"10.1.0.9 tcp 172.30.0.41:80", bothEPs},
			{"10.2.0.9 tcp 172.30.0.41:80", bothEPs},
			{"node 192.168.0.10 tcp 172.30.0.41:80", bothEPsMasq},
			{"203.0.113.7 tcp 172.30.0.41:80", bothEPsMasq},
		},
	},
	{
		name: "masquerade all masquerades pods too",
		model: func() *model.Model {
			m := newModel([]string{podCIDR}, servicePort())
			m.Config.MasqueradeAll = true
			return m
		}(),
		probes: []traceProbe{{"10.1.0.9 tcp 172.30.0.41:80", bothEPsMasq}},
	},
	{
		name:  "external traffic to a NodePort is masqueraded",
		model: newModel([]string{podCIDR}, servicePort(withNodePort)),
		probes: []traceProbe{
			{"203.0.113.7 tcp 192.168.0.10:30080", bothEPsMasq},
			{"203.0.113.7 tcp 192.168.0.10:30081", "accept"},
			{"node 192.168.0.10 tcp 192.168.0.10:30080", bothEPsMasq},
			{"node 127.0.0.1 tcp 127.0.0.1:30080", "accept"},
		},
	},
	{
		name: "NodePort only on node IPs inside NodePortAddresses",
		model: func() *model.Model {
			m := newModel([]string{podCIDR}, servicePort(withNodePort))
			m.Node.IPs = append(m.Node.IPs, netip.MustParseAddr("192.168.0.11"))
			m.Config.NodePortAddresses = []netip.Prefix{netip.MustParsePrefix("192.168.0.10/32")}
			return m
		}(),
		probes: []traceProbe{
			{"203.0.113.7 tcp 192.168.0.10:30080", bothEPsMasq},
			{"203.0.113.7 tcp 192.168.0.11:30080", "accept"},
		},
	},
	{
		name: "external IP is masqueraded",
		model: newModel([]string{podCIDR}, servicePort(func(sp *model.ServicePort) {
			sp.ExternalIPs = []netip.Addr{netip.MustParseAddr(externalIP)}
		})),
		probes: []traceProbe{
			{"203.0.113.7 tcp 198.51.100.20:80", bothEPsMasq},
			{"203.0.113.7 tcp 198.51.100.20:81", "accept"},
		},
	},
	{
		name: "load balancer source ranges admit some clients and drop the rest",
		model: newModel([]string{podCIDR}, servicePort(func(sp *model.ServicePort) {
			sp.LoadBalancerIPs = []netip.Addr{netip.MustParseAddr(lbIP)}
			sp.SourceRanges = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28")}
			sp.Firewall = true
		})),
		probes: []traceProbe{
			{"203.0.113.7 tcp 192.0.2.10:80", bothEPsMasq},
			{"203.0.113.77 tcp 192.0.2.10:80", "drop"},
			{"node 192.168.0.10 tcp 192.0.2.10:80", "drop"},
		},
	},
	{
		name: "a node inside the source ranges may reach its own load balancer IP",
		model: newModel([]string{podCIDR}, servicePort(func(sp *model.ServicePort) {
			sp.LoadBalancerIPs = []netip.Addr{netip.MustParseAddr(lbIP)}
			sp.SourceRanges = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")}
			sp.Firewall = true
		})),
		probes: []traceProbe{
			{"node 192.168.0.10 tcp 192.0.2.10:80", bothEPsMasq},
			{"node 192.0.2.10 tcp 192.0.2.10:80", bothEPsMasq},
			{"203.0.113.7 tcp 192.0.2.10:80", "drop"},
		},
	},
	{
		name: "firewall without ranges of this family drops load balancer traffic",
		model: newModel([]string{podCIDR}, servicePort(func(sp *model.ServicePort) {
			sp.LoadBalancerIPs = []netip.Addr{netip.MustParseAddr(lbIP)}
			sp.Firewall = true
		})),
		probes: []traceProbe{{"203.0.113.7 tcp 192.0.2.10:80", "drop"}},
	},
	{
		name: "no endpoints rejects every destination",
		model: newModel([]string{podCIDR}, servicePort(withNodePort, func(sp *model.ServicePort) {
			sp.ClusterEndpoints, sp.HasEndpoints = nil, false
			sp.ExternalIPs = []netip.Addr{netip.MustParseAddr(externalIP)}
			sp.LoadBalancerIPs = []netip.Addr{netip.MustParseAddr(lbIP)}
			sp.SourceRanges = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
			sp.Firewall = true
		})),
		probes: []traceProbe{
			{"10.1.0.9 tcp 172.30.0.41:80", "reject"},
			{"node 192.168.0.10 tcp 172.30.0.41:80", "reject"},
			{"203.0.113.7 tcp 192.168.0.10:30080", "reject"},
			{"203.0.113.7 tcp 198.51.100.20:80", "reject"},
			{"203.0.113.7 tcp 192.0.2.10:80", "reject"},
		},
	},
	{
		name: "internal Local policy reaches only local endpoints",
		model: newModel([]string{podCIDR}, servicePort(withLocalEndpoints, func(sp *model.ServicePort) {
			sp.InternalPolicyLocal = true
			sp.ClusterEndpoints = nil
		})),
		probes: []traceProbe{
			{"10.1.0.9 tcp 172.30.0.41:80", localEP},
			{"node 192.168.0.10 tcp 172.30.0.41:80", localEP + "+masq"},
		},
	},
	{
		name: "internal Local policy without local endpoints drops",
		model: newModel([]string{podCIDR}, servicePort(func(sp *model.ServicePort) {
			sp.InternalPolicyLocal = true
			sp.ClusterEndpoints = nil
		})),
		probes: []traceProbe{{"10.1.0.9 tcp 172.30.0.41:80", "drop"}},
	},
	{
		name: "external Local policy keeps the source and the node",
		model: newModel([]string{podCIDR}, servicePort(withNodePort, withLocalEndpoints, func(sp *model.ServicePort) {
			sp.ExternalPolicyLocal = true
			sp.HealthCheckNodePort = healthPort
		})),
		probes: []traceProbe{
			{"203.0.113.7 tcp 192.168.0.10:30080", localEP},
			{"10.1.0.9 tcp 192.168.0.10:30080", bothEPs},
			{"node 192.168.0.10 tcp 192.168.0.10:30080", bothEPsMasq},
			{"10.1.0.9 tcp 172.30.0.41:80", bothEPs},
			{"203.0.113.7 tcp 192.168.0.10:30999", "accept"},
		},
	},
	{
		name: "a pod of another node reaching itself through a Local NodePort is masqueraded",
		model: newModel([]string{podCIDR}, servicePort(withNodePort, withLocalEndpoints, withRemoteNode, func(sp *model.ServicePort) {
			sp.ExternalPolicyLocal = true
		})),
		probes: []traceProbe{
			{"10.1.0.6 tcp 192.168.0.10:30080", localEP + " " + remoteEP + "+masq"},
			{"10.1.0.9 tcp 192.168.0.10:30080", bothEPs},
		},
	},
	{
		name: "external Local policy without local endpoints drops external traffic",
		model: newModel([]string{podCIDR}, servicePort(withNodePort, func(sp *model.ServicePort) {
			sp.ExternalPolicyLocal = true
			sp.LocalEndpoints = nil
		})),
		probes: []traceProbe{
			{"203.0.113.7 tcp 192.168.0.10:30080", "drop"},
			{"10.1.0.9 tcp 172.30.0.41:80", bothEPs},
		},
	},
	{
		name: "affinity still lets a first packet reach every endpoint",
		model: newModel([]string{podCIDR}, servicePort(func(sp *model.ServicePort) {
			sp.AffinitySeconds = 10800
		})),
		probes: []traceProbe{{"10.1.0.9 tcp 172.30.0.41:80", bothEPs}},
	},
	{
		name: "ports and protocols are told apart",
		model: newModel([]string{podCIDR},
			servicePort(),
			namedServicePort("ns1", "svc1", "dns", model.UDP, clusterIP, 53, func(sp *model.ServicePort) {
				sp.ClusterEndpoints = []model.Endpoint{endpoint(sp, "10.1.0.7:5353", false)}
			}),
			namedServicePort("ns1", "svc2", "", model.SCTP, "172.30.0.42", 9, func(sp *model.ServicePort) {
				sp.ClusterEndpoints = []model.Endpoint{endpoint(sp, "10.1.0.8:9", false)}
			}),
		),
		probes: []traceProbe{
			{"10.1.0.9 udp 172.30.0.41:53", "10.1.0.7:5353"},
			{"10.1.0.9 tcp 172.30.0.41:53", "accept"},
			{"10.1.0.9 sctp 172.30.0.42:9", "10.1.0.8:9"},
		},
	},
}

func TestRenderBehaviour(t *testing.T) {
	for _, tt := range behaviourCases {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range tt.probes {
				if got := trace(t, tt.model, packet(t, p.packet)); got != p.want {
					t.Errorf("%s => %s, want %s", p.packet, got, p.want)
				}
			}
		})
	}
}

func TestRenderIPv6(t *testing.T) {
	sp := namedServicePort("ns1", "svc1", "p80", model.TCP, "fd00:30::41", 80, withNodePort)
	m := &model.Model{
		Family:   model.IPv6,
		Node:     model.Node{Name: "node1", IPs: []netip.Addr{netip.MustParseAddr("fd00:192::10")}},
		Config:   model.Config{MasqueradeBit: model.DefaultMasqueradeBit, ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("fd00:1::/64")}},
		Services: []*model.ServicePort{sp},
	}
	tests := []struct{ name, packet, want string }{
		{"pod to cluster IP", "fd00:1::9 tcp [fd00:30::41]:80", "[fd00:1::5]:8080 [fd00:1::6]:8080"},
		{"node to cluster IP", "node fd00:192::10 tcp [fd00:30::41]:80", "[fd00:1::5]:8080+masq [fd00:1::6]:8080+masq"},
		{"client to NodePort", "2001:db8:113::7 tcp [fd00:192::10]:30080", "[fd00:1::5]:8080+masq [fd00:1::6]:8080+masq"},
		{"NodePort not on loopback", "node ::1 tcp [::1]:30080", "accept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trace(t, m, packet(t, tt.packet)); got != tt.want {
				t.Errorf("%s => %s, want %s", tt.packet, got, tt.want)
			}
		})
	}
}

// threeEPPort is servicePort with a third, remote, endpoint. Its first
// two endpoints hash as servicePort's do, so other cases use its hashes.
var threeEPPort = servicePort(func(sp *model.ServicePort) {
	sp.ClusterEndpoints = append(sp.ClusterEndpoints, endpoint(sp, "10.1.0.7:8080", false))
})

type renderTextCase struct {
	name  string
	model *model.Model
	want  []string // lines that must appear in the payload
}

var renderTextCases = []renderTextCase{
	{
		name:  "kube-proxy chain name and probabilities",
		model: newModel(nil, threeEPPort),
		want: []string{
			`-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O`,
			`-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.1.0.5:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-` + threeEPPort.ClusterEndpoints[0].Hash,
			`-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.1.0.6:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-` + threeEPPort.ClusterEndpoints[1].Hash,
			`-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.1.0.7:8080" -j KUBE-SEP-` + threeEPPort.ClusterEndpoints[2].Hash,
			`-A KUBE-SEP-` + threeEPPort.ClusterEndpoints[0].Hash + ` -m comment --comment "ns1/svc1:p80" -p tcp -j DNAT --to-destination 10.1.0.5:8080`,
			`-A KUBE-SEP-` + threeEPPort.ClusterEndpoints[0].Hash + ` -m comment --comment "ns1/svc1:p80" -s 10.1.0.5 -j KUBE-MARK-MASQ`,
		},
	},
	{
		name:  "endpoints on other nodes are DNATed by their pick rule",
		model: newModel(nil, servicePort(onOtherNode)),
		want: []string{
			`-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.1.0.5:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-` + threeEPPort.ClusterEndpoints[0].Hash,
			`-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.1.0.6:8080" -p tcp -j DNAT --to-destination 10.1.0.6:8080`,
		},
	},
	{
		name: "affinity on other nodes",
		model: newModel(nil, servicePort(onOtherNode, func(sp *model.ServicePort) {
			sp.AffinitySeconds = 600
		})),
		want: []string{
			`-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.1.0.6:8080" -m recent --name KUBE-SEP-` + threeEPPort.ClusterEndpoints[1].Hash +
				` --rcheck --seconds 600 --reap -m recent --name KUBE-SEP-` + threeEPPort.ClusterEndpoints[1].Hash + ` --set -p tcp -j DNAT --to-destination 10.1.0.6:8080`,
			`-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.1.0.6:8080" -m recent --name KUBE-SEP-` + threeEPPort.ClusterEndpoints[1].Hash +
				` --set -p tcp -j DNAT --to-destination 10.1.0.6:8080`,
		},
	},
	{
		name:  "no endpoint comments in a large cluster",
		model: largeModel(101, 10),
		want: []string{
			`-A KUBE-SVC-` + largeModel(101, 10).Services[0].Hash + ` -m statistic --mode random --probability 0.1111111111 -p tcp -j DNAT --to-destination 10.1.0.1:8080`,
			`-A KUBE-SERVICES -m tcp -p tcp -d 172.30.0.0 --dport 80 -j KUBE-SVC-` + largeModel(101, 10).Services[0].Hash,
		},
	},
	{
		name: "affinity rules",
		model: newModel(nil, servicePort(func(sp *model.ServicePort) {
			sp.AffinitySeconds = 600
			sp.ClusterEndpoints = sp.ClusterEndpoints[:1]
		})),
		want: []string{
			`-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.1.0.5:8080" -m recent --name KUBE-SEP-` +
				threeEPPort.ClusterEndpoints[0].Hash + ` --rcheck --seconds 600 --reap -j KUBE-SEP-` + threeEPPort.ClusterEndpoints[0].Hash,
			`-A KUBE-SEP-` + threeEPPort.ClusterEndpoints[0].Hash + ` -m comment --comment "ns1/svc1:p80" -m recent --name KUBE-SEP-` +
				threeEPPort.ClusterEndpoints[0].Hash + ` --set -p tcp -j DNAT --to-destination 10.1.0.5:8080`,
		},
	},
	{
		name: "jumps shown as comments and masquerade mark",
		model: func() *model.Model {
			m := newModel(nil, servicePort())
			m.Config.MasqueradeBit = 15
			return m
		}(),
		want: []string{
			`# jump: -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
			`# jump: -A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
			`-A KUBE-MARK-MASQ -m comment --comment "mark traffic for masquerade" -j MARK --or-mark 0x8000`,
			`-A KUBE-POSTROUTING -m comment --comment "leave traffic not marked for masquerade" -m mark ! --mark 0x8000/0x8000 -j RETURN`,
		},
	},
	{
		name: "health check node port once per Service",
		model: newModel(nil,
			servicePort(withNodePort, withLocalEndpoints, func(sp *model.ServicePort) {
				sp.ExternalPolicyLocal, sp.HealthCheckNodePort = true, healthPort
			}),
			namedServicePort("ns1", "svc1", "p81", model.TCP, clusterIP, 81, withLocalEndpoints, func(sp *model.ServicePort) {
				sp.NodePort, sp.ExternalPolicyLocal, sp.HealthCheckNodePort = 30081, true, healthPort
			}),
		),
		want: []string{
			`-A KUBE-NODEPORTS -m comment --comment "ns1/svc1 health check node port" -m tcp -p tcp --dport 30999 -j ACCEPT`,
		},
	},
}

func TestRenderText(t *testing.T) {
	for _, tt := range renderTextCases {
		t.Run(tt.name, func(t *testing.T) {
			payload := string(Render(tt.model).Payload())
			for _, line := range tt.want {
				if n := strings.Count(payload, "\n"+line+"\n"); n != 1 {
					t.Errorf("line occurs %d times, want once: %s\npayload:\n%s", n, line, payload)
				}
			}
		})
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	m := richModel(model.IPv4)
	first := string(Render(m).Payload())
	for range 5 {
		if got := string(Render(m).Payload()); got != first {
			t.Fatal("two renders of one model differ")
		}
	}
}

// TestPayloadStructure checks the layout restore depends on: every table
// declares its chains before any rule, and every rule's chain is declared.
func TestPayloadStructure(t *testing.T) {
	payload := string(Render(richModel(model.IPv4)).Payload())
	declared := map[string]bool{}
	sawRule := false
	var tables []string
	for _, line := range strings.Split(strings.TrimSuffix(payload, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			tables = append(tables, line[1:])
			declared, sawRule = map[string]bool{}, false
		case strings.HasPrefix(line, ":"):
			if sawRule {
				t.Errorf("declaration after a rule: %s", line)
			}
			name := strings.Fields(line[1:])[0]
			if declared[name] {
				t.Errorf("chain declared twice: %s", name)
			}
			declared[name] = true
		case strings.HasPrefix(line, "-A "):
			sawRule = true
			if name := strings.Fields(line)[1]; !declared[name] {
				t.Errorf("rule for undeclared chain: %s", line)
			}
		}
	}
	if strings.Join(tables, ",") != "filter,nat" {
		t.Errorf("tables = %v, want filter,nat", tables)
	}
}

// TestRenderOmitsUnusedChains checks that no chain is rendered that no
// rule can reach: dead chains would only cost memory and restore time.
func TestRenderOmitsUnusedChains(t *testing.T) {
	tests := []struct {
		name   string
		model  *model.Model
		absent []string
	}{
		{"no endpoints", newModel(nil, servicePort(withNodePort, func(sp *model.ServicePort) {
			sp.ClusterEndpoints, sp.HasEndpoints = nil, false
		})), []string{prefixSVC, prefixSVL, prefixEXT, prefixFW, prefixSEP}},
		// KUBE-EXT-, KUBE-SVC- and the endpoint chains stay: pods and the
		// node short-circuit through them to the cluster endpoints.
		{"Local policies without local endpoints", newModel(nil, servicePort(withNodePort, func(sp *model.ServicePort) {
			sp.InternalPolicyLocal, sp.ExternalPolicyLocal = true, true
		})), []string{prefixSVL, prefixFW}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := string(Render(tt.model).Payload())
			for _, prefix := range tt.absent {
				if strings.Contains(payload, prefix) {
					t.Errorf("payload has a %s chain:\n%s", prefix, payload)
				}
			}
		})
	}
}

// TestRichModelTraces parses the rich model with the tracer, which
// rejects what the kernel would (overlong comments, unknown chains), and
// walks a few packets through it.
func TestRichModelTraces(t *testing.T) {
	m := richModel(model.IPv4)
	tests := []struct{ name, packet, want string }{
		{"udp with affinity", "10.1.0.9 udp 172.30.0.2:53", localEP + " " + remoteEP},
		{"long name via load balancer", "203.0.113.7 tcp 192.0.2.10:83", localEP},
		{"long name refused source", "203.0.113.200 tcp 192.0.2.10:83", "drop"},
		{"no endpoints", "203.0.113.7 tcp 192.0.2.10:81", "reject"},
		{"internal Local policy", "10.1.0.9 tcp 172.30.0.5:8443", localEP},
		{"pod to LB IP under Local policy", "10.1.0.9 tcp 192.0.2.10:8443", localEP + " " + remoteEP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trace(t, m, packet(t, tt.packet)); got != tt.want {
				t.Errorf("%s => %s, want %s", tt.packet, got, tt.want)
			}
		})
	}
}
