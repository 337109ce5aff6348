package model

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// sliceV4 is the address type of the slices in endpointChoiceCases.
const sliceV4 = discovery.AddressTypeIPv4

type endpointChoiceCase struct {
	name        string
	svc         *v1.Service
	slices      []*discovery.EndpointSlice
	wantCluster string
	wantLocal   string
	wantAny     bool
}

var endpointChoiceCases = []endpointChoiceCase{
	{
		name:        "ready endpoints only",
		svc:         svc("a"),
		slices:      []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.6"), ep("10.1.0.5"), ep("10.1.0.7", notReady))},
		wantCluster: "10.1.0.5:8080 10.1.0.6:8080",
		wantAny:     true,
	},
	{
		name:        "serving terminating used when nothing is ready",
		svc:         svc("a"),
		slices:      []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", terminating(true)), ep("10.1.0.6", terminating(false)))},
		wantCluster: "10.1.0.5:8080",
		wantAny:     true,
	},
	{
		name:        "terminating ignored while something is ready",
		svc:         svc("a"),
		slices:      []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", terminating(true)), ep("10.1.0.6"))},
		wantCluster: "10.1.0.6:8080",
		wantAny:     true,
	},
	{
		// kube-proxy reads an unset serving as true, so a terminating
		// endpoint that does not say is a fallback, as one that says
		// serving is.
		name:        "unset serving on a terminating endpoint reads as serving",
		svc:         svc("a"),
		slices:      []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", terminatingUnsetServing), ep("10.1.0.6", notReady))},
		wantCluster: "10.1.0.5:8080",
		wantAny:     true,
	},
	{
		name:    "non-serving never used",
		svc:     svc("a"),
		slices:  []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", terminating(false)), ep("10.1.0.6", notReady))},
		wantAny: false,
	},
	{
		name: "slices merged and duplicates removed",
		svc:  svc("a"),
		slices: []*discovery.EndpointSlice{
			slice("a-2", "a", sliceV4, 8080, ep("10.1.0.6"), ep("10.1.0.5")),
			slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", notReady)),
		},
		wantCluster: "10.1.0.5:8080 10.1.0.6:8080",
		wantAny:     true,
	},
	{
		name: "internal traffic policy Local",
		svc: svc("a", func(s *v1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
		}),
		slices:    []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", local), ep("10.1.0.6"))},
		wantLocal: "10.1.0.5:8080",
		wantAny:   true,
	},
	{
		name: "external traffic policy Local keeps cluster endpoints for pods",
		svc: svc("a", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30080
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		}),
		slices:      []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", local), ep("10.1.0.6"))},
		wantCluster: "10.1.0.5:8080 10.1.0.6:8080",
		wantLocal:   "10.1.0.5:8080",
		wantAny:     true,
	},
	{
		name: "local terminating fallback",
		svc: svc("a", func(s *v1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
		}),
		slices:    []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", local, terminating(true)), ep("10.1.0.6"))},
		wantLocal: "10.1.0.5:8080",
		wantAny:   true,
	},
	{
		name:        "zone hints narrow cluster endpoints",
		svc:         svc("a"),
		slices:      []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", zoneHint("zone-a")), ep("10.1.0.6", zoneHint("zone-b")))},
		wantCluster: "10.1.0.5:8080",
		wantAny:     true,
	},
	{
		name:        "hints ignored unless every endpoint has one",
		svc:         svc("a"),
		slices:      []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", zoneHint("zone-a")), ep("10.1.0.6"))},
		wantCluster: "10.1.0.5:8080 10.1.0.6:8080",
		wantAny:     true,
	},
	{
		name:        "hints ignored when none is for this zone",
		svc:         svc("a"),
		slices:      []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080, ep("10.1.0.5", zoneHint("zone-c")), ep("10.1.0.6", zoneHint("zone-b")))},
		wantCluster: "10.1.0.5:8080 10.1.0.6:8080",
		wantAny:     true,
	},
	{
		name: "node hints prefer this node",
		svc:  svc("a"),
		slices: []*discovery.EndpointSlice{slice("a-1", "a", sliceV4, 8080,
			ep("10.1.0.5", func(e *discovery.Endpoint) {
				e.Hints = &discovery.EndpointHints{ForNodes: []discovery.ForNode{{Name: "node-a"}}, ForZones: []discovery.ForZone{{Name: "zone-b"}}}
			}),
			ep("10.1.0.6", func(e *discovery.Endpoint) {
				e.Hints = &discovery.EndpointHints{ForNodes: []discovery.ForNode{{Name: "node-b"}}, ForZones: []discovery.ForZone{{Name: "zone-a"}}}
			}))},
		wantCluster: "10.1.0.5:8080",
		wantAny:     true,
	},
}

func TestBuildEndpointChoice(t *testing.T) {
	for _, tt := range endpointChoiceCases {
		t.Run(tt.name, func(t *testing.T) {
			m, warns := build(t, IPv4, Input{Services: []*v1.Service{tt.svc}, EndpointSlices: tt.slices})
			if len(warns) > 0 {
				t.Fatalf("unexpected warnings:\n%s", warningList(warns))
			}
			if len(m.Services) != 1 {
				t.Fatalf("got %d service ports, want 1", len(m.Services))
			}
			sp := m.Services[0]
			if got := endpointList(sp.ClusterEndpoints); got != tt.wantCluster {
				t.Errorf("cluster endpoints = %q, want %q", got, tt.wantCluster)
			}
			if got := endpointList(sp.LocalEndpoints); got != tt.wantLocal {
				t.Errorf("local endpoints = %q, want %q", got, tt.wantLocal)
			}
			if sp.HasEndpoints != tt.wantAny {
				t.Errorf("HasEndpoints = %v, want %v", sp.HasEndpoints, tt.wantAny)
			}
		})
	}
}

func TestBuildDualStack(t *testing.T) {
	s := svc("a", func(s *v1.Service) {
		s.Spec.ClusterIPs = []string{"fd00:30::10", "172.30.0.10"}
		s.Spec.ExternalIPs = []string{"198.51.100.20", "2001:db8:51::20"}
	})
	in := Input{
		Services: []*v1.Service{s},
		EndpointSlices: []*discovery.EndpointSlice{
			slice("a-4", "a", discovery.AddressTypeIPv4, 8080, ep("10.1.0.5")),
			slice("a-6", "a", discovery.AddressTypeIPv6, 8080, ep("fd00:1::5")),
		},
	}
	for _, tt := range []struct {
		fam                     Family
		clusterIP, extIP, epStr string
	}{
		{IPv4, "172.30.0.10", "198.51.100.20", "10.1.0.5:8080"},
		{IPv6, "fd00:30::10", "2001:db8:51::20", "[fd00:1::5]:8080"},
	} {
		t.Run(tt.fam.String(), func(t *testing.T) {
			m, _ := build(t, tt.fam, in)
			sp := m.Services[0]
			if sp.ClusterIP.String() != tt.clusterIP || len(sp.ExternalIPs) != 1 || sp.ExternalIPs[0].String() != tt.extIP {
				t.Errorf("got cluster IP %s external IPs %v", sp.ClusterIP, sp.ExternalIPs)
			}
			if got := endpointList(sp.ClusterEndpoints); got != tt.epStr {
				t.Errorf("endpoints = %q, want %q", got, tt.epStr)
			}
			if len(m.Node.IPs) != 1 || FamilyOf(m.Node.IPs[0]) != tt.fam {
				t.Errorf("node IPs %v not narrowed to %s", m.Node.IPs, tt.fam)
			}
		})
	}
}

func TestBuildIgnoresServices(t *testing.T) {
	labelled := func(key string) func(*v1.Service) {
		return func(s *v1.Service) { s.Labels = map[string]string{key: ""} }
	}
	services := []*v1.Service{
		svc("headless", func(s *v1.Service) { s.Spec.ClusterIP = v1.ClusterIPNone }),
		svc("external-name", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeExternalName }),
		svc("other-proxy", labelled(LabelServiceProxyName)),
		svc("headless-label", labelled(v1.IsHeadlessService)),
	}
	m, warns := build(t, IPv4, Input{Services: services})
	if len(m.Services) != 0 || len(warns) != 0 {
		t.Errorf("got %d ports and warnings %q, want none", len(m.Services), warningList(warns))
	}
}

func TestBuildValidation(t *testing.T) {
	tests := []struct {
		name      string
		svc       *v1.Service
		wantPorts int
		wantWarn  string
	}{
		{"invalid cluster IP", svc("a", func(s *v1.Service) { s.Spec.ClusterIP = "172.30.0.300" }), 0, `Service ns/a: cluster IP skipped: "172.30.0.300" is not an IP address`},
		{"CIDR as cluster IP", svc("a", func(s *v1.Service) { s.Spec.ClusterIP = "172.30.0.10/32" }), 0, "is not an IP address"},
		{"port out of range", svc("a", func(s *v1.Service) { s.Spec.Ports[0].Port = 70000 }), 0, "spec.ports[0] skipped: port: 70000 is out of range"},
		{"unknown protocol", svc("a", func(s *v1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }), 0, `unknown protocol "ICMP"`},
		{"missing cluster IP", svc("a", func(s *v1.Service) { s.Spec.ClusterIP = "" }), 0, "spec.clusterIP is missing"},
		{"missing name", svc("", func(s *v1.Service) {}), 0, "metadata.name is missing"},
		{"rule text in a port name", svc("a", func(s *v1.Service) { s.Spec.Ports[0].Name = `x" -j ACCEPT` }), 0, "is invalid"},
		{"bad external IP skipped alone", svc("a", func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.51.100.21 -j ACCEPT", "198.51.100.20"} }), 1, "spec.externalIPs entry skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := svc("good", func(s *v1.Service) { s.Spec.ClusterIP = "172.30.0.99" })
			m, warns := build(t, IPv4, Input{Services: []*v1.Service{tt.svc, good}})
			got := warningList(warns)
			if !strings.Contains(got, tt.wantWarn) {
				t.Errorf("warnings %q do not contain %q", got, tt.wantWarn)
			}
			n := 0
			for _, sp := range m.Services {
				if sp.Name.Name == "good" {
					continue
				}
				n++
			}
			if n != tt.wantPorts {
				t.Errorf("got %d ports of the bad service, want %d", n, tt.wantPorts)
			}
			if !slices.ContainsFunc(m.Services, func(sp *ServicePort) bool { return sp.Name.Name == "good" }) {
				t.Errorf("the valid service was not built")
			}
		})
	}
}

func TestBuildEndpointValidation(t *testing.T) {
	v4 := discovery.AddressTypeIPv4
	in := Input{
		Services: []*v1.Service{svc("a")},
		EndpointSlices: []*discovery.EndpointSlice{slice("a-1", "a", v4, 8080,
			ep("010.001.000.005"), ep("10.1.0.6:80"), ep("fd00:1::7"), ep("127.0.0.1"), ep("not-an-ip"))},
	}
	m, warns := build(t, IPv4, in)
	if got := endpointList(m.Services[0].ClusterEndpoints); got != "10.1.0.5:8080" {
		t.Errorf("endpoints = %q, want the canonicalised 10.1.0.5:8080 only", got)
	}
	if len(warns) != 4 {
		t.Errorf("got %d warnings, want 4:\n%s", len(warns), warningList(warns))
	}
	for _, w := range warns {
		if w.Kind != "EndpointSlice" || w.Object != "ns/a-1" {
			t.Errorf("warning %q does not name EndpointSlice ns/a-1", w)
		}
	}
}

func TestBuildSourceRanges(t *testing.T) {
	lb := func(ranges ...string) *v1.Service {
		return svc("a", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.Ports[0].NodePort = 30080
			s.Spec.LoadBalancerSourceRanges = ranges
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{
				{IP: "192.0.2.10"},
				{IP: "192.0.2.11", IPMode: ptr.To(v1.LoadBalancerIPModeProxy)},
			}
		})
	}
	tests := []struct {
		name         string
		svc          *v1.Service
		wantRanges   string
		wantFirewall bool
	}{
		{"none", lb(), "", false},
		{"whitespace tolerated and masked", lb(" 203.0.113.0/25 ", "10.2.3.4/16"), "10.2.0.0/16 203.0.113.0/25", true},
		// As kube-proxy: ranges of the other family say nothing of this one.
		{"other family only leaves this one open", lb("2001:db8::/32"), "", false},
		{"this family among others", lb("2001:db8::/32", "203.0.113.0/25"), "203.0.113.0/25", true},
		{"all invalid closes", lb("nonsense"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := build(t, IPv4, Input{Services: []*v1.Service{tt.svc}})
			sp := m.Services[0]
			var got []string
			for _, p := range sp.SourceRanges {
				got = append(got, p.String())
			}
			if strings.Join(got, " ") != tt.wantRanges || sp.Firewall != tt.wantFirewall {
				t.Errorf("ranges %v firewall %v, want %q %v", got, sp.Firewall, tt.wantRanges, tt.wantFirewall)
			}
			if len(sp.LoadBalancerIPs) != 1 || sp.LoadBalancerIPs[0].String() != "192.0.2.10" {
				t.Errorf("LB IPs %v, want only the VIP-mode 192.0.2.10", sp.LoadBalancerIPs)
			}
		})
	}
}

func TestBuildAffinity(t *testing.T) {
	s := svc("a", func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
	})
	m, _ := build(t, IPv4, Input{Services: []*v1.Service{s, svc("b", func(s *v1.Service) {
		s.Spec.ClusterIP = "172.30.0.11"
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	})}})
	if got := []int32{m.Services[0].AffinitySeconds, m.Services[1].AffinitySeconds}; got[0] != 60 || got[1] != 10800 {
		t.Errorf("affinity = %v, want [60 10800]", got)
	}
}

// TestBuildDeterministic builds the same objects in different orders and
// expects identical models.
func TestBuildDeterministic(t *testing.T) {
	v4 := discovery.AddressTypeIPv4
	services := []*v1.Service{svc("b", func(s *v1.Service) { s.Spec.ClusterIP = "172.30.0.11" }), svc("a")}
	slices := []*discovery.EndpointSlice{
		slice("a-1", "a", v4, 8080, ep("10.1.0.9"), ep("10.1.0.5")),
		slice("b-1", "b", v4, 8080, ep("10.1.0.7")),
		slice("a-2", "a", v4, 8080, ep("10.1.0.6")),
	}
	first, _ := build(t, IPv4, Input{Services: services, EndpointSlices: slices})
	reversed := func() ([]*v1.Service, []*discovery.EndpointSlice) {
		s := append([]*v1.Service(nil), services...)
		e := append([]*discovery.EndpointSlice(nil), slices...)
		for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
			s[i], s[j] = s[j], s[i]
		}
		for i, j := 0, len(e)-1; i < j; i, j = i+1, j-1 {
			e[i], e[j] = e[j], e[i]
		}
		return s, e
	}
	rs, re := reversed()
	second, _ := build(t, IPv4, Input{Services: rs, EndpointSlices: re})
	if len(first.Services) != 2 || first.Services[0].Name.Name != "a" {
		t.Fatalf("services not sorted: %v", first.Services)
	}
	for i := range first.Services {
		a, b := first.Services[i], second.Services[i]
		if a.Name != b.Name || endpointList(a.ClusterEndpoints) != endpointList(b.ClusterEndpoints) {
			t.Errorf("port %d differs: %v %q vs %v %q", i, a.Name, endpointList(a.ClusterEndpoints), b.Name, endpointList(b.ClusterEndpoints))
		}
	}
}

func TestBuildNilObjectsDoNotPanic(t *testing.T) {
	_, _ = Build(Input{Services: []*v1.Service{nil}, EndpointSlices: []*discovery.EndpointSlice{nil, {}}}, Config{})
}

// TestBuildWarningOrder pins the order in which Build reports warnings,
// the order `svcproxy render` prints them in: Services' as the input lists
// them, then EndpointSlices' by namespace and name, wherever the slices
// point.
func TestBuildWarningOrder(t *testing.T) {
	v4 := discovery.AddressTypeIPv4
	badIP := func(s *v1.Service) { s.Spec.ClusterIP = "nonsense" }
	inNamespace := func(ns string, s *discovery.EndpointSlice) *discovery.EndpointSlice {
		s.Namespace = ns
		return s
	}
	orphan := slice("a-orphan", "", v4, 8080, ep("10.1.0.5"))
	orphan.Labels = nil
	const (
		aaIP   = `Service ns/aa: cluster IP skipped: "nonsense" is not an IP address`
		aaNone = `Service ns/aa: skipped: no valid cluster IP`
		zzIP   = `Service ns/zz: cluster IP skipped: "nonsense" is not an IP address`
		zzNone = `Service ns/zz: skipped: no valid cluster IP`
		bogus  = `endpoints[0] skipped: "bogus" is not an IP address`
	)
	gone := func(slice, svc string) string {
		return "EndpointSlice " + slice + ": ignored: Service " + svc + " does not exist"
	}
	tests := []struct {
		name string
		in   Input
		want []string
	}{
		{
			name: "services in input order",
			in:   Input{Services: []*v1.Service{svc("zz", badIP), svc("aa", badIP)}},
			want: []string{zzIP, zzNone, aaIP, aaNone},
		},
		{
			name: "services before slices",
			in: Input{
				Services:       []*v1.Service{svc("zz", badIP)},
				EndpointSlices: []*discovery.EndpointSlice{slice("a-1", "a", v4, 8080, ep("bogus"))},
			},
			want: []string{zzIP, zzNone, "EndpointSlice ns/a-1: " + bogus, gone("ns/a-1", "ns/a")},
		},
		{
			name: "slices by their own name, not their service's",
			in: Input{EndpointSlices: []*discovery.EndpointSlice{
				slice("z-1", "a", v4, 8080, ep("bogus")),
				slice("a-1", "z", v4, 8080, ep("bogus")),
			}},
			want: []string{"EndpointSlice ns/a-1: " + bogus, gone("ns/a-1", "ns/z"), "EndpointSlice ns/z-1: " + bogus, gone("ns/z-1", "ns/a")},
		},
		{
			name: "slices by namespace before name",
			in: Input{EndpointSlices: []*discovery.EndpointSlice{
				inNamespace("ns-2", slice("a-1", "a", v4, 8080, ep("bogus"))),
				slice("b-1", "b", v4, 8080, ep("bogus")),
			}},
			want: []string{"EndpointSlice ns/b-1: " + bogus, gone("ns/b-1", "ns/b"), "EndpointSlice ns-2/a-1: " + bogus, gone("ns-2/a-1", "ns-2/a")},
		},
		{
			name: "orphan slices among the others",
			in: Input{EndpointSlices: []*discovery.EndpointSlice{
				slice("b-1", "b", v4, 8080, ep("bogus")),
				orphan,
			}},
			want: []string{
				"EndpointSlice ns/a-orphan: skipped: label kubernetes.io/service-name is missing",
				"EndpointSlice ns/b-1: " + bogus, gone("ns/b-1", "ns/b"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns := Build(tt.in, Config{})
			var got []string
			for _, w := range warns {
				got = append(got, w.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildHealthCheckNodePort checks which ports carry a health check
// node port: kube-proxy's rule, a LoadBalancer with a Local external
// policy, whatever the port's other destinations.
func TestBuildHealthCheckNodePort(t *testing.T) {
	local := func(typ v1.ServiceType, mutate func(*v1.Service)) *v1.Service {
		return svc("a", func(s *v1.Service) {
			s.Spec.Type = typ
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.HealthCheckNodePort = 32000
			if mutate != nil {
				mutate(s)
			}
		})
	}
	tests := []struct {
		name string
		svc  *v1.Service
		want uint16
	}{
		{"load balancer", local(v1.ServiceTypeLoadBalancer, func(s *v1.Service) {
			s.Spec.Ports[0].NodePort = 30080
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "192.0.2.10"}}
		}), 32000},
		{"load balancer with only proxy-mode ingresses and no node port", local(v1.ServiceTypeLoadBalancer, func(s *v1.Service) {
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "192.0.2.11", IPMode: ptr.To(v1.LoadBalancerIPModeProxy)}}
		}), 32000},
		{"node port", local(v1.ServiceTypeNodePort, func(s *v1.Service) { s.Spec.Ports[0].NodePort = 30080 }), 0},
		{"cluster policy", svc("a", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.HealthCheckNodePort = 32000
		}), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := build(t, IPv4, Input{Services: []*v1.Service{tt.svc}})
			if got := m.Services[0].HealthCheckNodePort; got != tt.want {
				t.Errorf("HealthCheckNodePort = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestBuildNodePortRange checks that node ports and health check node
// ports outside the node port range are skipped with a warning naming
// the Service, the port and the range, and that the rest of the Service
// is still built.
func TestBuildNodePortRange(t *testing.T) {
	lb := func(nodePort, hcPort int32) *v1.Service {
		return svc("a", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.Ports[0].NodePort = nodePort
			s.Spec.HealthCheckNodePort = hcPort
		})
	}
	tests := []struct {
		name         string
		svc          *v1.Service
		rng          PortRange
		wantNodePort uint16
		wantHC       uint16
		wantWarning  string
	}{
		{name: "in the default range", svc: lb(30080, 32000), wantNodePort: 30080, wantHC: 32000},
		{name: "an ssh node port", svc: lb(22, 32000), wantHC: 32000,
			wantWarning: `Service ns/a: port "http" nodePort 22 is outside the node port range 30000-32767: node port skipped`},
		{name: "a health check port below the range", svc: lb(30080, 2222), wantNodePort: 30080,
			wantWarning: "Service ns/a: spec.healthCheckNodePort 2222 is outside the node port range 30000-32767: skipped"},
		{name: "a custom range", svc: lb(22, 2222), rng: PortRange{First: 1, Last: 9999}, wantNodePort: 22, wantHC: 2222},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			models, warnings := Build(Input{Services: []*v1.Service{tt.svc}}, Config{MasqueradeBit: DefaultMasqueradeBit, NodePortRange: tt.rng})
			sp := models[0].Services[0]
			if sp.NodePort != tt.wantNodePort || sp.HealthCheckNodePort != tt.wantHC {
				t.Errorf("node port %d, health check port %d; want %d, %d", sp.NodePort, sp.HealthCheckNodePort, tt.wantNodePort, tt.wantHC)
			}
			var got []string
			for _, w := range warnings {
				got = append(got, w.String())
			}
			if want := tt.wantWarning; (want == "" && len(got) > 0) || (want != "" && !slices.Contains(got, want)) {
				t.Errorf("warnings %q, want %q", got, want)
			}
		})
	}
}

func TestParsePortRange(t *testing.T) {
	if r, err := ParsePortRange("30000-32767"); err != nil || r != DefaultNodePortRange {
		t.Errorf("ParsePortRange(default) = %v, %v", r, err)
	}
	for _, bad := range []string{"", "30000", "32767-30000", "0-10", "1-70000", "a-b"} {
		if _, err := ParsePortRange(bad); err == nil {
			t.Errorf("ParsePortRange(%q) accepted", bad)
		}
	}
}

// TestBuildRefusesAddressesThatAreNotAService's checks that loopback,
// unspecified, multicast, link-local and broadcast addresses never become
// a Service's destination: a rule matching them would capture the node's
// own traffic (its loopback services, the cloud metadata address).
func TestBuildRefusesAddressesThatAreNotAServices(t *testing.T) {
	hostile := []string{"127.0.0.1", "0.0.0.0", "224.0.0.1", "169.254.169.254", "255.255.255.255"}
	tests := []struct {
		name   string
		mutate func(s *v1.Service)
		check  func(sp *ServicePort) bool
	}{
		{"external IPs", func(s *v1.Service) { s.Spec.ExternalIPs = append(slices.Clone(hostile), "198.51.100.20") },
			func(sp *ServicePort) bool {
				return len(sp.ExternalIPs) == 1 && sp.ExternalIPs[0] == netip.MustParseAddr("198.51.100.20")
			}},
		{"load balancer IPs", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			for _, ip := range append(slices.Clone(hostile), "192.0.2.10") {
				s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: ip})
			}
		}, func(sp *ServicePort) bool {
			return len(sp.LoadBalancerIPs) == 1 && sp.LoadBalancerIPs[0] == netip.MustParseAddr("192.0.2.10")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			models, warnings := Build(Input{Services: []*v1.Service{svc("a", tt.mutate)}}, Config{MasqueradeBit: DefaultMasqueradeBit})
			if !tt.check(models[0].Services[0]) {
				t.Errorf("port %+v keeps a hostile address", models[0].Services[0])
			}
			if len(warnings) != len(hostile) {
				t.Errorf("%d warnings, want one per refused address: %v", len(warnings), warnings)
			}
		})
	}
	for _, ip := range append(slices.Clone(hostile), "::1", "::", "fe80::1", "ff02::1") {
		t.Run("cluster IP "+ip, func(t *testing.T) {
			s := svc("a", func(s *v1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip} })
			models, warnings := Build(Input{Services: []*v1.Service{s}}, Config{MasqueradeBit: DefaultMasqueradeBit})
			for _, m := range models {
				if len(m.Services) > 0 {
					t.Errorf("a Service on cluster IP %s was built: %+v", ip, m.Services[0])
				}
			}
			if len(warnings) == 0 {
				t.Error("no warning")
			}
		})
	}
}

// TestOtherServing checks which serving endpoints of a UDP port take no
// new traffic: a terminating one while another is ready, and one topology
// keeps from this node. TCP ports keep no such list.
func TestOtherServing(t *testing.T) {
	ep := func(ip string, ready, terminating bool, zoneHint string) Endpoint {
		e := Endpoint{IP: netip.MustParseAddr(ip), Port: 53, Ready: ready, Serving: true, Terminating: terminating}
		if zoneHint != "" {
			e.ZoneHints = []string{zoneHint}
		}
		return e
	}
	node := Node{Name: "node-a", Zone: "z1"}
	for _, tc := range []struct {
		name  string
		proto Protocol
		eps   []Endpoint
		want  []netip.AddrPort
	}{
		{name: "terminating beside a ready one", proto: UDP,
			eps:  []Endpoint{ep("10.1.1.5", true, false, ""), ep("10.1.1.6", false, true, "")},
			want: []netip.AddrPort{netip.MustParseAddrPort("10.1.1.6:53")}},
		{name: "kept from this zone by topology", proto: UDP,
			eps:  []Endpoint{ep("10.1.1.5", true, false, "z1"), ep("10.1.2.5", true, false, "z2")},
			want: []netip.AddrPort{netip.MustParseAddrPort("10.1.2.5:53")}},
		{name: "every serving endpoint chosen", proto: UDP,
			eps: []Endpoint{ep("10.1.1.5", true, false, ""), ep("10.1.1.6", true, false, "")}},
		{name: "TCP keeps none", proto: TCP,
			eps: []Endpoint{ep("10.1.1.5", true, false, ""), ep("10.1.1.6", false, true, "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &ServicePort{Name: PortName{Namespace: "ns", Name: "dns", Port: "dns", Protocol: tc.proto}}
			categorize(sp, tc.eps, node)
			keepOtherServing(sp, tc.eps)
			if !slices.Equal(sp.OtherServing, tc.want) {
				t.Errorf("OtherServing = %v, want %v", sp.OtherServing, tc.want)
			}
		})
	}
}
