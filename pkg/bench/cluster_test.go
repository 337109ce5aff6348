package bench

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Test address plan: the generator's own (node 192.168.0.10, pods from
// 10.0.0.0/8, cluster IPs from 172.16.0.0/12, LB IPs from 198.18.0.0/15).

func TestGenerateIsDeterministic(t *testing.T) {
	mix := Mix{Services: 40, Endpoints: 4, NodePortEvery: 3, LoadBalancerEvery: 7, AffinityEvery: 2, LocalEvery: 5}
	a, err := Generate(mix)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(mix)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("two generations of the same mix differ (-first +second):\n%s", diff)
	}
}

// mixCounts counts what the generated Services use.
type mixCounts struct {
	Services, Slices, Endpoints           int
	NodePorts, LoadBalancers, LBIngresses int
	Affinity, Local                       int
}

func countMix(in model.Input) mixCounts {
	c := mixCounts{Services: len(in.Services), Slices: len(in.EndpointSlices)}
	for _, s := range in.EndpointSlices {
		c.Endpoints += len(s.Endpoints)
	}
	for _, svc := range in.Services {
		switch svc.Spec.Type {
		case v1.ServiceTypeNodePort:
			c.NodePorts++
		case v1.ServiceTypeLoadBalancer:
			c.LoadBalancers++
		}
		c.LBIngresses += len(svc.Status.LoadBalancer.Ingress)
		if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
			c.Affinity++
		}
		if svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal {
			c.Local++
		}
	}
	return c
}

func TestGenerateHonoursTheMix(t *testing.T) {
	tests := []struct {
		name string
		mix  Mix
		want mixCounts
	}{{
		name: "cluster IPs only",
		mix:  Mix{Services: 25, Endpoints: 2},
		want: mixCounts{Services: 25, Slices: 25, Endpoints: 50},
	}, {
		name: "every tenth a NodePort",
		mix:  Mix{Services: 100, Endpoints: 10, NodePortEvery: 10},
		want: mixCounts{Services: 100, Slices: 100, Endpoints: 1000, NodePorts: 10},
	}, {
		name: "every feature",
		// LB wins over NodePort (30, 60 are both); Local makes the rest of
		// its Services NodePorts: 5,10,15,…,60 not already LB or NodePort.
		mix:  Mix{Services: 60, Endpoints: 3, NodePortEvery: 6, LoadBalancerEvery: 15, AffinityEvery: 4, LocalEvery: 5},
		want: mixCounts{Services: 60, Slices: 60, Endpoints: 180, NodePorts: 8 + 8, LoadBalancers: 4, LBIngresses: 4, Affinity: 15, Local: 12},
	}, {
		name: "every Service everything",
		mix:  Mix{Services: 7, Endpoints: 1, NodePortEvery: 1, LoadBalancerEvery: 1, AffinityEvery: 1, LocalEvery: 1},
		want: mixCounts{Services: 7, Slices: 7, Endpoints: 7, LoadBalancers: 7, LBIngresses: 7, Affinity: 7, Local: 7},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Generate(tt.mix)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, countMix(in)); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGenerateRejectsBadMixes(t *testing.T) {
	tests := []struct {
		name string
		mix  Mix
	}{
		{name: "no Services", mix: Mix{Endpoints: 1}},
		{name: "too many Services", mix: Mix{Services: MaxServices + 1, Endpoints: 1}},
		{name: "no endpoints", mix: Mix{Services: 1}},
		{name: "negative every", mix: Mix{Services: 1, Endpoints: 1, LocalEvery: -1}},
		{name: "too many NodePorts", mix: Mix{Services: MaxNodePortServices + 1, Endpoints: 1, NodePortEvery: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Generate(tt.mix); err == nil {
				t.Errorf("Generate(%+v) succeeded, want an error", tt.mix)
			}
		})
	}
}

func TestGeneratedAddresses(t *testing.T) {
	in, err := Generate(Mix{Services: 300, Endpoints: 2, LoadBalancerEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	last := in.Services[299]
	tests := []struct {
		name, got string
		want      string
	}{
		{name: "first cluster IP", got: in.Services[0].Spec.ClusterIP, want: "172.16.0.1"},
		{name: "cluster IP past a byte", got: last.Spec.ClusterIP, want: "172.16.1.44"},
		{name: "LB ingress", got: last.Status.LoadBalancer.Ingress[0].IP, want: "198.18.1.44"},
		{name: "first pod", got: in.EndpointSlices[0].Endpoints[0].Addresses[0], want: "10.0.0.1"},
		{name: "last pod", got: in.EndpointSlices[299].Endpoints[1].Addresses[0], want: "10.0.2.88"},
		{name: "local endpoint", got: *in.EndpointSlices[5].Endpoints[0].NodeName, want: NodeName},
		{name: "remote endpoint", got: *in.EndpointSlices[5].Endpoints[1].NodeName, want: "node-b"},
		{name: "node IP", got: in.Node.IPs[0].String(), want: "192.168.0.10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
	if !netip.MustParsePrefix("10.0.0.0/8").Contains(netip.MustParseAddr(in.EndpointSlices[299].Endpoints[1].Addresses[0])) {
		t.Errorf("pod IPs left the cluster CIDR")
	}
}

func TestGenerateNodePortPlan(t *testing.T) {
	tests := []struct {
		name string
		mix  Mix
	}{
		{name: "30,000 Services, every tenth a NodePort", mix: Mix{Services: 30000, Endpoints: 1, NodePortEvery: 10}},
		{name: "every Service a NodePort, at the limit", mix: Mix{Services: MaxNodePortServices, Endpoints: 1, NodePortEvery: 1}},
		{name: "overlapping kinds", mix: Mix{Services: 900, Endpoints: 1, NodePortEvery: 4, LoadBalancerEvery: 6, LocalEvery: 9}},
		{name: "no NodePorts", mix: Mix{Services: 50, Endpoints: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Generate(tt.mix)
			if err != nil {
				t.Fatal(err)
			}
			checkNodePorts(t, in)
		})
	}
}

// checkNodePorts wants the ports handed out in Service order from 10000,
// two to each Service that needs them, every port used once.
func checkNodePorts(t *testing.T, in model.Input) {
	t.Helper()
	next := int32(firstNodePort)
	for _, svc := range in.Services {
		np := svc.Spec.Ports[0].NodePort
		if svc.Spec.Type == v1.ServiceTypeClusterIP {
			if np != 0 || svc.Spec.HealthCheckNodePort != 0 {
				t.Fatalf("ClusterIP Service %s has ports %d and %d, want none", svc.Name, np, svc.Spec.HealthCheckNodePort)
			}
			continue
		}
		if np != next {
			t.Fatalf("Service %s has NodePort %d, want %d", svc.Name, np, next)
		}
		if hc := svc.Spec.HealthCheckNodePort; hc != 0 && hc != next+1 {
			t.Fatalf("Service %s has health check NodePort %d, want %d", svc.Name, hc, next+1)
		}
		next += 2
	}
}

func TestNodePortsBefore(t *testing.T) {
	mixes := []Mix{
		{},
		{NodePortEvery: 10},
		{NodePortEvery: 6, LoadBalancerEvery: 15, LocalEvery: 5},
		{NodePortEvery: 4, LoadBalancerEvery: 4, LocalEvery: 4},
		{NodePortEvery: 1, LoadBalancerEvery: 7},
		{LoadBalancerEvery: 3, LocalEvery: 2},
		{NodePortEvery: 150, LoadBalancerEvery: 1 << 40, LocalEvery: 1<<40 + 1},
	}
	for _, m := range mixes {
		// Counted one Service at a time, the way the generator decides.
		want := 0
		for i := range 200 {
			if got := m.nodePortsBefore(i); got != want {
				t.Fatalf("%+v: nodePortsBefore(%d) = %d, want %d", m, i, got, want)
			}
			if every(m.NodePortEvery, i) || every(m.LoadBalancerEvery, i) || every(m.LocalEvery, i) {
				want++
			}
		}
	}
}
