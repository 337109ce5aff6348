package model

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// builderState is an Input as a test edits it: objects by name.
type builderState struct {
	services map[string]*v1.Service
	slices   map[string]*discovery.EndpointSlice
	node     Node
}

func (s builderState) input() Input {
	in := Input{Node: s.node}
	for _, k := range sortedNames(s.services) {
		in.Services = append(in.Services, s.services[k])
	}
	for _, k := range sortedNames(s.slices) {
		in.EndpointSlices = append(in.EndpointSlices, s.slices[k])
	}
	return in
}

func sortedNames[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func dualStack(s *v1.Service) { s.Spec.ClusterIPs = []string{"172.30.0.11", "fd00:30::11"} }

// TestBuilderUpdateMatchesBuild applies a sequence of changes, each
// through Update with the keys a watcher would report, and checks that
// every result equals a full Build of the same input, made by a fresh
// Builder, and that Services not named as changed keep their ports.
func TestBuilderUpdateMatchesBuild(t *testing.T) {
	st := builderState{
		services: map[string]*v1.Service{"a": svc("a"), "b": svc("b", dualStack), "bad": svc("bad", func(s *v1.Service) { s.Spec.ClusterIP = "nonsense" })},
		slices: map[string]*discovery.EndpointSlice{
			"a-1": slice("a-1", "a", discovery.AddressTypeIPv4, 8080, ep("10.1.0.5"), ep("10.1.0.6", local)),
			"b-4": slice("b-4", "b", discovery.AddressTypeIPv4, 8080, ep("10.1.0.7")),
			"b-6": slice("b-6", "b", discovery.AddressTypeIPv6, 8080, ep("fd00:1::7")),
		},
		node: Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10")}},
	}
	steps := []struct {
		name    string
		edit    func(*builderState)
		changed []string
		// rebuilt says every Service is rebuilt: the node or the
		// families present changed.
		rebuilt bool
	}{
		{"endpoint changed", func(s *builderState) {
			s.slices["a-1"] = slice("a-1", "a", discovery.AddressTypeIPv4, 8080, ep("10.1.0.9"))
		}, []string{"a"}, false},
		{"service added", func(s *builderState) { s.services["c"] = svc("c") }, []string{"c"}, false},
		{"second slice merged", func(s *builderState) {
			s.slices["a-2"] = slice("a-2", "a", discovery.AddressTypeIPv4, 8080, ep("10.1.0.9", notReady), ep("10.1.0.10"))
		}, []string{"a"}, false},
		{"orphan slice warned", func(s *builderState) {
			o := slice("orphan", "x", discovery.AddressTypeIPv4, 8080, ep("10.1.0.11"))
			o.Labels = nil
			s.slices["orphan"] = o
		}, nil, false},
		{"slice of a missing service", func(s *builderState) {
			s.slices["gone-1"] = slice("gone-1", "gone", discovery.AddressTypeIPv4, 8080, ep("bogus"))
		}, []string{"gone"}, false},
		{"service removed", func(s *builderState) { delete(s.services, "a") }, []string{"a"}, false},
		{"last IPv6 service removed", func(s *builderState) { delete(s.services, "b") }, []string{"b"}, true},
		{"IPv6 service back", func(s *builderState) { s.services["d"] = svc("d", dualStack) }, []string{"d"}, true},
		{"node address added", func(s *builderState) {
			s.node.IPs = append(slices.Clone(s.node.IPs), netip.MustParseAddr("fd00:192::10"))
		}, nil, true},
		{"nothing changed", func(*builderState) {}, nil, false},
	}
	cfg := Config{MasqueradeBit: DefaultMasqueradeBit, ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	b := NewBuilder(cfg)
	prev, _ := b.Build(st.input())
	checkSameAsBuild(t, "initial", st.input(), cfg, prev, nil)
	for _, step := range steps {
		step.edit(&st)
		var keys []ServiceKey
		for _, name := range step.changed {
			keys = append(keys, ServiceKey{"ns", name})
		}
		got, warns := b.Update(st.input(), ChangesIn(st.input(), keys))
		checkSameAsBuild(t, step.name, st.input(), cfg, got, warns)
		if !step.rebuilt {
			checkReused(t, step.name, prev, got, step.changed)
		}
		prev = got
	}
}

func checkSameAsBuild(t *testing.T, step string, in Input, cfg Config, got []*Model, gotWarns []Warning) {
	t.Helper()
	want, wantWarns := Build(in, cfg)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: Update built\n%s\nBuild built\n%s", step, describeModels(got), describeModels(want))
	}
	if gotWarns != nil && !sameWarnings(gotWarns, wantWarns) {
		t.Errorf("%s: warnings\n%s\nwant\n%s", step, warningList(gotWarns), warningList(wantWarns))
	}
}

// checkReused checks that every port of a Service not named as changed
// is the same pointer as before.
func checkReused(t *testing.T, step string, prev, next []*Model, changed []string) {
	t.Helper()
	type key struct {
		fam  Family
		name PortName
	}
	old := map[key]*ServicePort{}
	for _, m := range prev {
		for _, sp := range m.Services {
			old[key{m.Family, sp.Name}] = sp
		}
	}
	for _, m := range next {
		for _, sp := range m.Services {
			if o, ok := old[key{m.Family, sp.Name}]; ok && !slices.Contains(changed, sp.Name.Name) && o != sp {
				t.Errorf("%s: %s was rebuilt although unchanged", step, sp.Name)
			}
		}
	}
}

func sameWarnings(a, b []Warning) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	byString := func(p, q Warning) int { return strings.Compare(p.String(), q.String()) }
	slices.SortFunc(x, byString)
	slices.SortFunc(y, byString)
	return slices.Equal(x, y)
}

func describeModels(ms []*Model) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s node %v:\n", m.Family, m.Node.IPs)
		for _, sp := range m.Services {
			fmt.Fprintf(&b, "  %s %s cluster=%s local=%s\n", sp.Name, sp.ClusterIP, endpointList(sp.ClusterEndpoints), endpointList(sp.LocalEndpoints))
		}
	}
	return b.String()
}

// TestBuilderKeepsWarningsOfUnchanged checks that an unchanged bad object's warning
// stays in the list without being rebuilt.
func TestBuilderKeepsWarningsOfUnchanged(t *testing.T) {
	bad := svc("bad", func(s *v1.Service) { s.Spec.Ports[0].Protocol = "ICMP" })
	in := Input{Services: []*v1.Service{bad, svc("a")}, Node: testNode}
	b := NewBuilder(Config{})
	_, first := b.Build(in)
	_, again := b.Update(in, ChangesIn(in, []ServiceKey{{"ns", "a"}}))
	if len(first) == 0 || !sameWarnings(first, again) {
		t.Errorf("warnings after update %q, want %q", warningList(again), warningList(first))
	}
}

// BenchmarkBuilderUpdate measures one endpoint change in a cluster of
// 10,000 Services × 10 endpoints, against a full Build of the same.
func BenchmarkBuilderUpdate(b *testing.B) {
	in := largeInput(10000, 10)
	cfg := Config{MasqueradeBit: DefaultMasqueradeBit}
	b.Run("Build", func(b *testing.B) {
		for b.Loop() {
			Build(in, cfg)
		}
	})
	b.Run("Update", func(b *testing.B) {
		bld := NewBuilder(cfg)
		bld.Build(in)
		// The changes come grouped, as the watch's tracker hands them
		// over: grouping is the caller's cost.
		changed := ChangesIn(in, []ServiceKey{{"ns", in.Services[0].Name}})
		for b.Loop() {
			bld.Update(in, changed)
		}
	})
}

// largeInput makes n Services of eps endpoints each.
func largeInput(n, eps int) Input {
	in := Input{Node: testNode}
	for i := range n {
		name := fmt.Sprintf("svc-%05d", i)
		ip := netip.AddrFrom4([4]byte{172, 30, byte(i >> 8), byte(i)})
		in.Services = append(in.Services, svc(name, func(s *v1.Service) { s.Spec.ClusterIP = ip.String() }))
		var list []discovery.Endpoint
		for j := range eps {
			list = append(list, ep(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(j + 1)}).String()))
		}
		in.EndpointSlices = append(in.EndpointSlices, slice(name+"-1", name, discovery.AddressTypeIPv4, 8080, list...))
	}
	return in
}

func TestPortsInOrder(t *testing.T) {
	port := func(ns, name, p string) *ServicePort {
		return &ServicePort{Name: PortName{Namespace: ns, Name: name, Port: p, Protocol: TCP}}
	}
	tests := []struct {
		name  string
		ports []*ServicePort
		want  bool
	}{
		{"empty", nil, true},
		{"in order", []*ServicePort{port("a", "x", "http"), port("a", "x", "https"), port("a-b", "a", "")}, true},
		{"namespace before name", []*ServicePort{port("a-b", "a", ""), port("a", "x", "")}, false},
		{"a name twice", []*ServicePort{port("a", "x", "http"), port("a", "x", "http")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PortsInOrder(tt.ports); got != tt.want {
				t.Errorf("PortsInOrder = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFamilyIndex keeps familyPorts' slots in the order of Families, which
// the loops over a unit's ports rely on to name each slot's family.
func TestFamilyIndex(t *testing.T) {
	for i, fam := range Families {
		if got := familyIndex(fam); got != i {
			t.Errorf("familyIndex(%v) = %d, want %d, its place in Families", fam, got, i)
		}
	}
}
