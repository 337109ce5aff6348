package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

func withIP(ip string) func(*v1.Service) { return func(s *v1.Service) { s.Spec.ClusterIP = ip } }

func withExternal(ips ...string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.ExternalIPs = ips }
}

func withLoadBalancer(ip string) func(*v1.Service) {
	return func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: ip}}
	}
}

func withNodePort(p int32) func(*v1.Service) {
	return func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = p
	}
}

// portSummary describes what each IPv4 port is reached at.
func portSummary(m *Model) []string {
	var out []string
	for _, sp := range m.Services {
		out = append(out, fmt.Sprintf("%s %s ext=%v lb=%v np=%d", sp.Name, netip.AddrPortFrom(sp.ClusterIP, sp.Port), sp.ExternalIPs, sp.LoadBalancerIPs, sp.NodePort))
	}
	return out
}

type claimCase struct {
	name     string
	services []*v1.Service
	cfg      func(*Config)
	want     []string
	// wantWarn are the warnings, in full.
	wantWarn []string
}

var claimCases = []claimCase{
	{
		name:     "an external IP never takes another Service's cluster IP",
		services: []*v1.Service{svc("victim", withIP("172.30.0.10")), svc("attacker", withIP("172.30.0.20"), withExternal("172.30.0.10"))},
		want:     []string{"ns/attacker:http 172.30.0.20:80 ext=[] lb=[] np=0", "ns/victim:http 172.30.0.10:80 ext=[] lb=[] np=0"},
		wantWarn: []string{`Service ns/attacker: port "http": external IP 172.30.0.10:80/tcp skipped: it is the cluster IP of Service port ns/victim:http`},
	},
	{
		name:     "a load balancer IP never takes another Service's cluster IP",
		services: []*v1.Service{svc("a", withIP("172.30.0.20"), withLoadBalancer("172.30.0.10")), svc("b", withIP("172.30.0.10"))},
		want:     []string{"ns/a:http 172.30.0.20:80 ext=[] lb=[] np=0", "ns/b:http 172.30.0.10:80 ext=[] lb=[] np=0"},
		wantWarn: []string{`Service ns/a: port "http": external IP 172.30.0.10:80/tcp skipped: it is the cluster IP of Service port ns/b:http`},
	},
	{
		name:     "the same address on another port is no contest",
		services: []*v1.Service{svc("a", withIP("172.30.0.10")), svc("b", withIP("172.30.0.20"), withExternal("172.30.0.10"), func(s *v1.Service) { s.Spec.Ports[0].Port = 8080 })},
		want:     []string{"ns/a:http 172.30.0.10:80 ext=[] lb=[] np=0", "ns/b:http 172.30.0.20:8080 ext=[172.30.0.10] lb=[] np=0"},
	},
	{
		name:     "of two Services on one cluster IP the first keeps it, the other is skipped",
		services: []*v1.Service{svc("b", withIP("172.30.0.10")), svc("a", withIP("172.30.0.10"))},
		want:     []string{"ns/a:http 172.30.0.10:80 ext=[] lb=[] np=0"},
		wantWarn: []string{`Service ns/b: port "http" skipped: cluster IP 172.30.0.10:80/tcp is the cluster IP of Service port ns/a:http`},
	},
	{
		name:     "of two Services on one external IP the first keeps it",
		services: []*v1.Service{svc("b", withIP("172.30.0.20"), withExternal("198.51.100.20")), svc("a", withIP("172.30.0.10"), withExternal("198.51.100.20"))},
		want:     []string{"ns/a:http 172.30.0.10:80 ext=[198.51.100.20] lb=[] np=0", "ns/b:http 172.30.0.20:80 ext=[] lb=[] np=0"},
		wantWarn: []string{`Service ns/b: port "http": external IP 198.51.100.20:80/tcp skipped: it is the external IP of Service port ns/a:http`},
	},
	{
		name:     "of two Services on one node port the first keeps it",
		services: []*v1.Service{svc("b", withIP("172.30.0.20"), withNodePort(30080)), svc("a", withIP("172.30.0.10"), withNodePort(30080))},
		want:     []string{"ns/a:http 172.30.0.10:80 ext=[] lb=[] np=30080", "ns/b:http 172.30.0.20:80 ext=[] lb=[] np=0"},
		wantWarn: []string{`Service ns/b: port "http": node port 30080/tcp skipped: it is the node port of Service port ns/a:http`},
	},
	{
		name: "two ports of one Service with one number: the first by name keeps it",
		services: []*v1.Service{svc("a", func(s *v1.Service) {
			s.Spec.Ports = []v1.ServicePort{{Name: "http", Port: 80}, {Name: "alt", Port: 80}}
		})},
		want:     []string{"ns/a:alt 172.30.0.10:80 ext=[] lb=[] np=0"},
		wantWarn: []string{`Service ns/a: port "http" skipped: cluster IP 172.30.0.10:80/tcp is the cluster IP of Service port ns/a:alt`},
	},
	{
		name:     "a Service's external IP that is its own cluster IP",
		services: []*v1.Service{svc("a", withExternal("172.30.0.10", "198.51.100.20"))},
		want:     []string{"ns/a:http 172.30.0.10:80 ext=[198.51.100.20] lb=[] np=0"},
		wantWarn: []string{`Service ns/a: port "http": external IP 172.30.0.10:80/tcp skipped: it is the cluster IP of Service port ns/a:http`},
	},
	{
		name:     "a cluster IP that is the node's is refused",
		services: []*v1.Service{svc("a", withIP("192.168.0.10"))},
		wantWarn: []string{"Service ns/a: cluster IP 192.168.0.10 skipped: it is an address of this node", "Service ns/a: skipped: no valid cluster IP"},
	},
	{
		name:     "an external IP that is the node's is kept, with a warning",
		services: []*v1.Service{svc("a", withExternal("192.168.0.10"))},
		want:     []string{"ns/a:http 172.30.0.10:80 ext=[192.168.0.10] lb=[] np=0"},
		wantWarn: []string{"Service ns/a: spec.externalIPs entry 192.168.0.10 is an address of this node: the Service's ports there are no longer the host's"},
	},
	{
		name:     "--external-ip-cidrs keeps only the addresses in them",
		services: []*v1.Service{svc("a", withExternal("198.51.100.20", "203.0.113.5"), withLoadBalancer("192.0.2.10"))},
		cfg:      func(c *Config) { c.ExternalIPCIDRs = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")} },
		want:     []string{"ns/a:http 172.30.0.10:80 ext=[198.51.100.20] lb=[] np=0"},
		wantWarn: []string{
			"Service ns/a: spec.externalIPs entry 203.0.113.5 skipped: it is outside --external-ip-cidrs",
			"Service ns/a: status.loadBalancer.ingress entry 192.0.2.10 skipped: it is outside --external-ip-cidrs",
		},
	},
	{
		name:     "a third cluster IP is reported",
		services: []*v1.Service{svc("a", func(s *v1.Service) { s.Spec.ClusterIPs = []string{"172.30.0.10", "fd00:30::10", "172.30.0.11"} })},
		want:     []string{"ns/a:http 172.30.0.10:80 ext=[] lb=[] np=0"},
		wantWarn: []string{"Service ns/a: cluster IP 172.30.0.11 ignored: a Service has one cluster IP per family"},
	},
	{
		name:     "two identical Services of one name: one is kept",
		services: []*v1.Service{svc("a"), svc("a")},
		want:     []string{"ns/a:http 172.30.0.10:80 ext=[] lb=[] np=0"},
		wantWarn: []string{"Service ns/a: listed 2 times, identically: using one"},
	},
	{
		name:     "two different Services of one name: neither is",
		services: []*v1.Service{svc("a"), svc("a", withIP("172.30.0.11"))},
		wantWarn: []string{"Service ns/a: skipped: listed 2 times, with different specs"},
	},
}

// TestBuildClaims checks the one rule for destinations several Service
// ports claim, and the checks of addresses against the node and the
// configuration: what the IPv4 model keeps and the warnings, the same
// whatever the order of the input.
func TestBuildClaims(t *testing.T) {
	for _, tt := range claimCases {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{MasqueradeBit: DefaultMasqueradeBit}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			for _, reversed := range []bool{false, true} {
				services := slices.Clone(tt.services)
				if reversed {
					slices.Reverse(services)
				}
				models, warns := Build(Input{Services: services, Node: testNode}, cfg)
				got := portSummary(models[0])
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("reversed=%v: ports (-want +got):\n%s", reversed, diff)
				}
				var gotWarn []string
				for _, w := range warns {
					gotWarn = append(gotWarn, w.String())
				}
				if diff := cmp.Diff(tt.wantWarn, gotWarn); diff != "" {
					t.Errorf("reversed=%v: warnings (-want +got):\n%s", reversed, diff)
				}
			}
		})
	}
}

// TestBuilderContestFollowsTheWinner removes the Service that won a
// contested destination: the loser's claim comes back, as a fresh
// Build of the same input would have it.
func TestBuilderContestFollowsTheWinner(t *testing.T) {
	b := NewBuilder(Config{MasqueradeBit: DefaultMasqueradeBit})
	victim, attacker := svc("a", withIP("172.30.0.10")), svc("b", withIP("172.30.0.20"), withExternal("172.30.0.10"))
	models, _ := b.Build(Input{Services: []*v1.Service{victim, attacker}, Node: testNode})
	if got := strings.Join(portSummary(models[0]), "; "); strings.Contains(got, "ext=[172.30.0.10]") {
		t.Fatalf("the external IP took the cluster IP: %s", got)
	}
	after := Input{Services: []*v1.Service{attacker}, Node: testNode}
	models, warns := b.Update(after, ChangesIn(after, []ServiceKey{{"ns", "a"}}))
	if got := portSummary(models[0]); !slices.Equal(got, []string{"ns/b:http 172.30.0.20:80 ext=[172.30.0.10] lb=[] np=0"}) || len(warns) != 0 {
		t.Errorf("after the cluster IP's Service went: %v, warnings %v", got, warns)
	}
}

func TestBuildReportsUnusableSlices(t *testing.T) {
	fqdn := slice("a-fqdn", "a", discovery.AddressTypeFQDN, 8080, ep("web.example.com"))
	_, warns := Build(Input{Services: []*v1.Service{svc("a")}, EndpointSlices: []*discovery.EndpointSlice{fqdn}, Node: testNode}, Config{})
	if got := warningList(warns); got != "EndpointSlice ns/a-fqdn: skipped: addressType FQDN names no address a proxy can use" {
		t.Errorf("warnings:\n%s", got)
	}
}
