package bench

import (
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

func TestBuildScenario(t *testing.T) {
	mix := Mix{Services: 20, Endpoints: 3, NodePortEvery: 2, LoadBalancerEvery: 5, AffinityEvery: 3, LocalEvery: 4}
	sc, err := BuildScenario(mix)
	if err != nil {
		t.Fatal(err)
	}
	first := func(m *model.Model) *model.ServicePort { return m.Services[0] }
	tests := []struct {
		name         string
		m            *model.Model
		wantServices int
		wantFirst    string
		wantFirstEP  string
	}{
		{name: "initial", m: sc.Initial, wantServices: 20, wantFirst: "bench/svc-00000:http", wantFirstEP: "10.0.0.1:8080"},
		{name: "endpoint changed", m: sc.EndpointChanged, wantServices: 20, wantFirst: "bench/svc-00000:http", wantFirstEP: "10.0.0.2:8080"},
		{name: "service added", m: sc.ServiceAdded, wantServices: 21, wantFirst: "bench/svc-00000:http", wantFirstEP: "10.0.0.2:8080"},
		{name: "service removed", m: sc.ServiceRemoved, wantServices: 20, wantFirst: "bench/svc-00001:http", wantFirstEP: "10.0.0.4:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(tt.m.Services); got != tt.wantServices {
				t.Errorf("got %d Service ports, want %d", got, tt.wantServices)
			}
			if got := first(tt.m).Name.String(); got != tt.wantFirst {
				t.Errorf("first Service port is %s, want %s", got, tt.wantFirst)
			}
			if got := first(tt.m).ClusterEndpoints[0].String(); got != tt.wantFirstEP {
				t.Errorf("its first endpoint is %s, want %s", got, tt.wantFirstEP)
			}
		})
	}
	changed := false
	for _, ep := range sc.EndpointChanged.Services[0].ClusterEndpoints {
		changed = changed || ep.IP == changedEndpointIP
	}
	if !changed {
		t.Errorf("the changed endpoint %s is not in the first Service", changedEndpointIP)
	}
	if got := sc.Initial.Services[0].ClusterEndpoints[0].String(); got != "10.0.0.1:8080" {
		t.Errorf("changing an endpoint modified the initial input: first endpoint is %s", got)
	}
}

// TestBuildScenarioRebuildsOnlyChanges checks that each step keeps the
// ports of the Services it does not change, as svcproxy run's builder
// does, so incremental syncs are measured on the path they take there.
func TestBuildScenarioRebuildsOnlyChanges(t *testing.T) {
	sc, err := BuildScenario(Mix{Services: 5, Endpoints: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sc.EndpointChanged.Services[0] == sc.Initial.Services[0] {
		t.Errorf("the changed Service kept its port")
	}
	for i := 1; i < 5; i++ {
		if sc.EndpointChanged.Services[i] != sc.Initial.Services[i] {
			t.Errorf("Service %d was rebuilt by the endpoint change", i)
		}
		if sc.ServiceAdded.Services[i] != sc.Initial.Services[i] {
			t.Errorf("Service %d was rebuilt by the Service added", i)
		}
		if sc.ServiceRemoved.Services[i-1] != sc.Initial.Services[i] {
			t.Errorf("Service %d was rebuilt by the Service removed", i)
		}
	}
}
