package model

import (
	"net/netip"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Test address plan (the part of docs/test-addresses.md these tests
// use): cluster IPs 172.30.0.0/16 and fd00:30::/64, pods 10.1.0.0/16 and
// fd00:1::/64, node 192.168.0.10 and fd00:192::10, load balancer IPs
// 192.0.2.0/24, external IPs 198.51.100.20 and up and 2001:db8:51::20,
// external clients and source ranges 203.0.113.0/24.

func svc(name string, mutate ...func(*v1.Service)) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: v1.ServiceSpec{
			Type:      v1.ServiceTypeClusterIP,
			ClusterIP: "172.30.0.10",
			Ports:     []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

type epOpt func(*discovery.Endpoint)

func ep(ip string, opts ...epOpt) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: []string{ip}, NodeName: ptr.To("node-b")}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func local(e *discovery.Endpoint) { e.NodeName = ptr.To("node-a") }

func notReady(e *discovery.Endpoint) { e.Conditions.Ready = ptr.To(false) }

func terminating(serving bool) epOpt {
	return func(e *discovery.Endpoint) {
		e.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(serving), Terminating: ptr.To(true)}
	}
}

// terminatingUnsetServing is an endpoint that is terminating and not
// ready, and leaves serving unset.
func terminatingUnsetServing(e *discovery.Endpoint) {
	e.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Terminating: ptr.To(true)}
}

func zoneHint(zone string) epOpt {
	return func(e *discovery.Endpoint) {
		e.Hints = &discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: zone}}}
	}
}

func slice(name, service string, typ discovery.AddressType, port int32, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	return &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{discovery.LabelServiceName: service}},
		AddressType: typ,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To(port)}},
		Endpoints:   eps,
	}
}

var testNode = Node{
	Name: "node-a",
	Zone: "zone-a",
	IPs:  []netip.Addr{netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("fd00:192::10")},
}

// build runs Build and returns the model of one family.
func build(t *testing.T, fam Family, in Input) (*Model, []Warning) {
	t.Helper()
	if in.Node.Name == "" {
		in.Node = testNode
	}
	models, warns := Build(in, Config{MasqueradeBit: DefaultMasqueradeBit})
	for _, m := range models {
		if m.Family == fam {
			return m, warns
		}
	}
	t.Fatalf("no %s model built", fam)
	return nil, nil
}

func endpointList(eps []Endpoint) string {
	var s []string
	for _, e := range eps {
		s = append(s, e.String())
	}
	return strings.Join(s, " ")
}

func warningList(ws []Warning) string {
	var s []string
	for _, w := range ws {
		s = append(s, w.String())
	}
	return strings.Join(s, "\n")
}
