package model

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

// changesPort returns a port with every field set, so that a change of
// any one is visible.
func changesPort() *ServicePort {
	ep := Endpoint{IP: netip.MustParseAddr("10.1.1.5"), Port: 8080, NodeName: "node-a", Zone: "z1",
		Local: true, Ready: true, Serving: true, ZoneHints: []string{"z1"}, NodeHints: []string{"node-a"}, Hash: "EP"}
	return &ServicePort{
		Name:      PortName{Namespace: "ns", Name: "a", Port: "http", Protocol: TCP},
		Hash:      "SVC",
		ClusterIP: netip.MustParseAddr("172.30.0.10"), Port: 80, NodePort: 30080,
		ExternalIPs:         []netip.Addr{netip.MustParseAddr("198.51.100.20")},
		LoadBalancerIPs:     []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		SourceRanges:        []netip.Prefix{netip.MustParsePrefix("203.0.113.0/25")},
		Firewall:            true,
		HealthCheckNodePort: 32000, AffinitySeconds: 10800,
		ClusterEndpoints: []Endpoint{ep}, LocalEndpoints: []Endpoint{ep}, HasEndpoints: true,
	}
}

func TestSamePortComparesEveryField(t *testing.T) {
	base := changesPort()
	v := reflect.ValueOf(base).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		c := *base
		c.ClusterEndpoints = slices.Clone(base.ClusterEndpoints)
		f := reflect.ValueOf(&c).Elem().Field(i)
		if !perturb(f) {
			t.Fatalf("field %s: no way to change a %s", name, f.Type())
		}
		if SamePort(base, &c) {
			t.Errorf("SamePort misses a change of ServicePort.%s", name)
		}
	}
	ev := reflect.ValueOf(base.ClusterEndpoints[0])
	for i := range ev.NumField() {
		name := ev.Type().Field(i).Name
		c := *base
		c.ClusterEndpoints = slices.Clone(base.ClusterEndpoints)
		if !perturb(reflect.ValueOf(&c.ClusterEndpoints[0]).Elem().Field(i)) {
			t.Fatalf("endpoint field %s: no way to change it", name)
		}
		if SamePort(base, &c) {
			t.Errorf("SamePort misses a change of Endpoint.%s", name)
		}
	}
	if c := *base; !SamePort(base, &c) {
		t.Error("SamePort sees a change in a copy")
	}
}

func TestSameContextComparesEveryField(t *testing.T) {
	base := &Model{Family: IPv4,
		Node: Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10")}, Zone: "z1"},
		Config: Config{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, MasqueradeBit: 14,
			NodePortAddresses: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")}},
	}
	for _, part := range []string{"Node", "Config"} {
		pv := reflect.ValueOf(base).Elem().FieldByName(part)
		for i := range pv.NumField() {
			c := *base
			if !perturb(reflect.ValueOf(&c).Elem().FieldByName(part).Field(i)) {
				t.Fatalf("%s field %s: no way to change it", part, pv.Type().Field(i).Name)
			}
			if SameContext(base, &c) {
				t.Errorf("SameContext misses a change of %s.%s", part, pv.Type().Field(i).Name)
			}
		}
	}
	other := *base
	other.Family = IPv6
	if SameContext(base, &other) {
		t.Error("SameContext misses a change of family")
	}
	same := *base
	same.Services = []*ServicePort{changesPort()}
	if !SameContext(base, &same) {
		t.Error("SameContext depends on the ports")
	}
}

// perturb changes a settable value, reporting whether it knew how. Slices
// get an element more, so the original's backing array is never written.
func perturb(f reflect.Value) bool {
	switch f.Kind() {
	case reflect.String:
		f.SetString(f.String() + "x")
	case reflect.Bool:
		f.SetBool(!f.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(f.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(f.Uint() + 1)
	case reflect.Slice:
		f.Set(reflect.Append(f, reflect.New(f.Type().Elem()).Elem()))
	case reflect.Struct:
		if a, ok := f.Interface().(netip.Addr); ok {
			f.Set(reflect.ValueOf(a.Next()))
			return true
		}
		for i := range f.NumField() {
			if f.Field(i).CanSet() {
				return perturb(f.Field(i))
			}
		}
		return false
	default:
		return false
	}
	return true
}

func TestChangedPorts(t *testing.T) {
	port := func(name string) *ServicePort {
		return &ServicePort{Name: PortName{Namespace: "ns", Name: name, Port: "p", Protocol: TCP}}
	}
	a, b, c, d := port("a"), port("b"), port("c"), port("d")
	b2 := port("b")
	b3 := port("b")
	b3.Port = 81
	tests := []struct {
		name       string
		prev, next []*ServicePort
		want       []PortChange
		ok         bool
	}{
		{"unchanged", []*ServicePort{a, b, c}, []*ServicePort{a, b, c}, nil, true},
		{"equal but another pointer", []*ServicePort{a, b, c}, []*ServicePort{a, b2, c}, nil, true},
		{"changed", []*ServicePort{a, b, c}, []*ServicePort{a, b3, c}, []PortChange{{b, b3}}, true},
		{"added", []*ServicePort{a, c}, []*ServicePort{a, b, c, d}, []PortChange{{nil, b}, {nil, d}}, true},
		{"removed", []*ServicePort{a, b, c}, []*ServicePort{b}, []PortChange{{a, nil}, {c, nil}}, true},
		{"from nothing", nil, []*ServicePort{a}, []PortChange{{nil, a}}, true},
		{"out of order", []*ServicePort{b, a}, []*ServicePort{a, b}, nil, false},
		{"a name twice", []*ServicePort{a}, []*ServicePort{a, a}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ChangedPorts(tt.prev, tt.next)
			if ok != tt.ok || !slices.Equal(got, tt.want) {
				t.Errorf("ChangedPorts = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
