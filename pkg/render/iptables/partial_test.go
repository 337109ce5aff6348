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
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		whole, err := RenderPartial(mc.m, all)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(mc.name+"/all ports make Render", func(t *testing.T) {
			want := Render(mc.m)
			got := &Ruleset{Family: whole.Fixed.Family, Tables: slices.Clone(whole.Fixed.Tables)}
			got.Tables[1].Chains = append(slices.Clone(got.Tables[1].Chains), slices.Concat(whole.Ports...)...)
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
				part, err := RenderPartial(mc.m, sc.ports)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(part.Fixed.Tables, whole.Fixed.Tables) {
					t.Error("the fixed chains depend on the ports rendered")
				}
				alone, err := RenderPorts(mc.m, sc.ports)
				if err != nil {
					t.Fatal(err)
				}
				for k, i := range sc.ports {
					if !reflect.DeepEqual(part.Ports[k], whole.Ports[i]) || !reflect.DeepEqual(alone[k], whole.Ports[i]) {
						t.Errorf("port %d: chains %v and %v, want %v", i, part.Ports[k], alone[k], whole.Ports[i])
					}
				}
			})
		}
	}
}

func TestRenderPartialRefusesUnorderedPorts(t *testing.T) {
	m := largeModel(3, 1)
	for _, ports := range [][]int{{1, 0}, {0, 0}, {3}, {-1}} {
		if _, err := RenderPartial(m, ports); err == nil {
			t.Errorf("RenderPartial(%v) succeeded", ports)
		}
		if _, err := RenderPorts(m, ports); err == nil {
			t.Errorf("RenderPorts(%v) succeeded", ports)
		}
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
			if got := Compatible(base(), next); got != tt.want {
				t.Errorf("Compatible = %v, want %v", got, tt.want)
			}
		})
	}
}
