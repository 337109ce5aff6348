package sync

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

// sharePorts returns next with the pointer of prev's port wherever prev
// has an equal port, as the model builder keeps the pointers of Services
// that did not change.
func sharePorts(prev, next *model.Model) *model.Model {
	byName := map[model.PortName]*model.ServicePort{}
	for _, sp := range prev.Services {
		byName[sp.Name] = sp
	}
	out := *next
	out.Services = make([]*model.ServicePort, len(next.Services))
	for i, sp := range next.Services {
		if old := byName[sp.Name]; old != nil && reflect.DeepEqual(old, sp) {
			sp = old
		}
		out.Services[i] = sp
	}
	return &out
}

// TestIPTablesPortUpdateSendsWhatFullRenderSends takes two appliers
// through the incremental sequence: one through Update from models, which
// renders only the ports that changed, and one through the full render
// that was Update's only path. Each step must send the same restore input
// byte for byte, and report the same stats.
func TestIPTablesPortUpdateSendsWhatFullRenderSends(t *testing.T) {
	type step struct {
		name string
		m    *model.Model
		// partial is whether the step may skip the full render.
		partial bool
	}
	var steps []step
	prev := (*model.Model)(nil)
	for _, s := range incrementalSteps(t) {
		m := trafficModel(t, s.manifests)
		if prev != nil {
			m = sharePorts(prev, m)
		}
		steps = append(steps, step{s.name, m, prev != nil})
		prev = m
	}
	moved := *prev
	moved.Node.IPs = []netip.Addr{netip.MustParseAddr("192.0.2.99")}
	steps = append(steps,
		step{"node address changed", &moved, false},
		step{"back to the first state, all pointers new", trafficModel(t, incrementalSteps(t)[0].manifests), false},
	)
	restore := "iptables-legacy-restore --noflush --wait"
	ctx := context.Background()
	fr, fp := &fakeRunner{}, &fakeRunner{}
	ref := &IPTables{Family: model.IPv4, Mode: ModeIPTablesLegacy, Runner: fr}
	a := NewApplier(fp, ModeIPTablesLegacy, model.IPv4).(iptablesApplier)
	if err := ref.Apply(ctx, iptables.Render(steps[0].m)); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(ctx, steps[0].m); err != nil {
		t.Fatal(err)
	}
	for _, s := range steps[1:] {
		t.Run(s.name, func(t *testing.T) {
			fr.stdin, fp.stdin = nil, nil
			if _, partial := a.ipt.loaded.portDeltas(s.m); partial != s.partial {
				t.Errorf("renders only changed ports: %v, want %v", partial, s.partial)
			}
			if err := ref.Update(ctx, iptables.Render(s.m)); err != nil {
				t.Fatal(err)
			}
			if err := a.Update(ctx, s.m); err != nil {
				t.Fatal(err)
			}
			got, sent := fp.stdin[restore]
			want, wantSent := fr.stdin[restore]
			if got != want || sent != wantSent {
				t.Errorf("restore input:\n%s\nwant:\n%s", got, want)
			}
			if !a.ipt.LastIncremental() {
				t.Error("took the full path")
			}
			if !reflect.DeepEqual(a.LastStats(), ref.stats) {
				t.Errorf("stats %v, want %v", a.LastStats(), ref.stats)
			}
		})
	}
}

func TestChangedPorts(t *testing.T) {
	port := func(name string) *model.ServicePort {
		return &model.ServicePort{Name: model.PortName{Namespace: "ns", Name: name, Port: "p", Protocol: model.TCP}}
	}
	a, b, c, d := port("a"), port("b"), port("c"), port("d")
	b2 := port("b")
	tests := []struct {
		name        string
		prev, next  []*model.ServicePort
		gone, added []int
		ok          bool
	}{
		{"unchanged", []*model.ServicePort{a, b, c}, []*model.ServicePort{a, b, c}, nil, nil, true},
		{"changed", []*model.ServicePort{a, b, c}, []*model.ServicePort{a, b2, c}, []int{1}, []int{1}, true},
		{"added", []*model.ServicePort{a, c}, []*model.ServicePort{a, b, c, d}, nil, []int{1, 3}, true},
		{"removed", []*model.ServicePort{a, b, c}, []*model.ServicePort{b}, []int{0, 2}, nil, true},
		{"from nothing", nil, []*model.ServicePort{a}, nil, []int{0}, true},
		{"out of order", []*model.ServicePort{b, a}, []*model.ServicePort{a, b}, nil, nil, false},
		{"a name twice", []*model.ServicePort{a}, []*model.ServicePort{a, a}, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone, added, ok := changedPorts(tt.prev, tt.next)
			if ok != tt.ok || !reflect.DeepEqual(gone, tt.gone) || !reflect.DeepEqual(added, tt.added) {
				t.Errorf("changedPorts = %v, %v, %v; want %v, %v, %v", gone, added, ok, tt.gone, tt.added, tt.ok)
			}
		})
	}
}
