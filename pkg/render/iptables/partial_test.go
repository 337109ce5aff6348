package iptables

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestRenderPartialMatchesRender checks that a partial render is the
// matching part of Render's: every fixed chain whole, and each port's
// chains as Render gives them, whichever ports are asked for.
func TestRenderPartialMatchesRender(t *testing.T) {
	models := []struct {
		name string
		m    *model.Model
	}{
		{"rich IPv4", richModel(model.IPv4)},
		{"rich IPv6", richModel(model.IPv6)},
		{"many ports", largeModel(40, 3)},
	}
	for _, mc := range models {
		n := len(mc.m.Services)
		whole, ok := renderPartial(mc.m, mc.m.Services)
		if !ok {
			t.Fatal("renderPartial refused all the ports")
		}
		t.Run(mc.name+"/all ports make Render", func(t *testing.T) {
			want := Render(mc.m)
			got := &Ruleset{Family: whole.fixed.Family, Tables: slices.Clone(whole.fixed.Tables)}
			got.Tables[1].Chains = append(slices.Clone(got.Tables[1].Chains), slices.Concat(whole.ports...)...)
			if string(got.Payload()) != string(want.Payload()) {
				t.Errorf("fixed chains and all ports' chains differ from Render:\n%s\nwant:\n%s", got.Payload(), want.Payload())
			}
		})
		subsets := []struct {
			name  string
			ports []int
		}{
			{"none", nil},
			{"first", []int{0}},
			{"last", []int{n - 1}},
			{"first and last", []int{0, n - 1}},
			{"middle", []int{n / 2}},
		}
		for _, sc := range subsets {
			t.Run(mc.name+"/"+sc.name, func(t *testing.T) {
				ports := make([]*model.ServicePort, len(sc.ports))
				for k, i := range sc.ports {
					ports[k] = mc.m.Services[i]
				}
				part, ok := renderPartial(mc.m, ports)
				if !ok {
					t.Fatal("renderPartial refused ports in model order")
				}
				if !reflect.DeepEqual(part.fixed.Tables, whole.fixed.Tables) {
					t.Error("the fixed chains depend on the ports rendered")
				}
				alone := renderPorts(mc.m, ports)
				for k, i := range sc.ports {
					if !reflect.DeepEqual(part.ports[k], whole.ports[i]) || !reflect.DeepEqual(alone[k], whole.ports[i]) {
						t.Errorf("port %d: chains %v and %v, want %v", i, part.ports[k], alone[k], whole.ports[i])
					}
				}
			})
		}
	}
}

func TestRenderPartialRefusesPortsOutOfOrder(t *testing.T) {
	m := largeModel(3, 1)
	stranger := largeModel(1, 1).Services[0]
	s := m.Services
	tests := []struct {
		name  string
		ports []*model.ServicePort
	}{
		{"reversed", []*model.ServicePort{s[1], s[0]}},
		{"twice", []*model.ServicePort{s[0], s[0]}},
		{"not in the model", []*model.ServicePort{stranger}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := renderPartial(m, tt.ports); ok {
				t.Error("renderPartial accepted them")
			}
		})
	}
}

func TestCompatible(t *testing.T) {
	base := func() *model.Model { return largeModel(10, 2) }
	tests := []struct {
		name   string
		change func(m *model.Model)
		want   bool
	}{
		{"same", func(*model.Model) {}, true},
		{"a port changed", func(m *model.Model) { m.Services = m.Services[1:] }, true},
		{"another node address", func(m *model.Model) { m.Node.IPs = []netip.Addr{netip.MustParseAddr("192.168.0.11")} }, false},
		{"another configuration", func(m *model.Model) { m.Config.MasqueradeAll = true }, false},
		{"another family", func(m *model.Model) { m.Family = model.IPv6 }, false},
		{"past the comment threshold", func(m *model.Model) { m.Services = largeModel(600, 2).Services }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base()
			tt.change(next)
			if got := compatible(base(), next); got != tt.want {
				t.Errorf("compatible = %v, want %v", got, tt.want)
			}
		})
	}
}
