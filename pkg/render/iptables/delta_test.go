package iptables

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// changedHand is handRuleset with KUBE-SVC-AAAA jumping to a new
// endpoint chain instead of KUBE-SEP-BBBB.
func changedHand() *Ruleset {
	rs := handRuleset()
	rs.Tables[0].Chains = []Chain{
		rs.Tables[0].Chains[0],
		{Name: "KUBE-SVC-AAAA", Rules: []string{`-j KUBE-SEP-CCCC`}},
		{Name: "KUBE-SEP-CCCC", Rules: []string{`-p tcp -j DNAT --to-destination 10.1.0.6:80`}},
	}
	return rs
}

func TestChainsDelta(t *testing.T) {
	tests := []struct {
		name string
		next *Ruleset
		// want is the delta's payload; "" means an empty delta.
		want string
	}{
		{
			name: "only the changed chains, and the removed one deleted last",
			next: changedHand(),
			want: "*nat\n:KUBE-SEP-BBBB - [0:0]\n:KUBE-SEP-CCCC - [0:0]\n:KUBE-SVC-AAAA - [0:0]\n" +
				"-A KUBE-SVC-AAAA -j KUBE-SEP-CCCC\n-A KUBE-SEP-CCCC -p tcp -j DNAT --to-destination 10.1.0.6:80\n" +
				"-X KUBE-SEP-BBBB\nCOMMIT\n",
		},
		{name: "nothing changed, nothing sent", next: handRuleset()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := handRuleset().State()
			d := st.chainsDelta(tt.next)
			if got := string(d.Payload()); got != tt.want || d.Empty() != (tt.want == "") {
				t.Errorf("delta (empty %v):\n%s\nwant:\n%s", d.Empty(), got, tt.want)
			}
			st.Commit(d)
			if want := tt.next.State(); !reflect.DeepEqual(st.tables, want.tables) {
				t.Error("the state after Commit is not that of a full load of the next ruleset")
			}
		})
	}
}

func TestDiffNeedsALoadedFamily(t *testing.T) {
	m := largeModel(3, 2)
	v6 := *m
	v6.Family = model.IPv6
	tests := []struct {
		name string
		st   *State
	}{
		{"nothing loaded", nil},
		{"another family loaded", Render(&v6).State()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Diff(tt.st, m); !errors.Is(err, render.ErrFullSync) {
				t.Errorf("Diff = %v, want an error wrapping render.ErrFullSync", err)
			}
		})
	}
}

// deltaSteps are successive models, each sharing the pointers of the
// ports it did not change with the one before, as the model builder
// shares them; ports says whether the step can render only the ports
// that changed.
func deltaSteps() []struct {
	name  string
	m     *model.Model
	ports bool
} {
	first := largeModel(20, 3)
	moved := withPortChanged(first, 5, func(sp *model.ServicePort) {
		sp.ClusterEndpoints[2].IP = netip.MustParseAddr("10.1.9.9")
	})
	added := withPortAdded(moved, largeModel(21, 3).Services[20])
	removed := withPortRemoved(added, 0)
	nodePort := withPortChanged(removed, 3, func(sp *model.ServicePort) { sp.NodePort = 31999 })
	renamedNode := *nodePort
	renamedNode.Node.IPs = []netip.Addr{netip.MustParseAddr("192.0.2.99")}
	return []struct {
		name  string
		m     *model.Model
		ports bool
	}{
		{"first", first, false},
		{"one endpoint moved", moved, true},
		{"a Service added", added, true},
		{"a Service removed", removed, true},
		{"a NodePort added", nodePort, true},
		{"node address changed", &renamedNode, false},
		{"back to the first state, all pointers new", largeModel(20, 3), false},
	}
}

func withPortChanged(m *model.Model, i int, change func(*model.ServicePort)) *model.Model {
	next := *m
	next.Services = slices.Clone(m.Services)
	sp := *m.Services[i]
	sp.ClusterEndpoints = slices.Clone(sp.ClusterEndpoints)
	change(&sp)
	next.Services[i] = &sp
	return &next
}

func withPortAdded(m *model.Model, sp *model.ServicePort) *model.Model {
	next := *m
	next.Services = append(slices.Clone(m.Services), sp)
	slices.SortFunc(next.Services, func(a, b *model.ServicePort) int { return a.Name.Compare(b.Name) })
	return &next
}

func withPortRemoved(m *model.Model, i int) *model.Model {
	next := *m
	next.Services = slices.Delete(slices.Clone(m.Services), i, i+1)
	return &next
}

// TestDiffRendersOnlyChangedPortsExactly takes a state through the steps
// by Diff and Commit, and checks at each that the delta is byte for byte
// the one a whole render compared chain by chain gives, that it was
// worked out from the changed ports where it could be, and that the
// state then is the one a full load of the step would leave.
func TestDiffRendersOnlyChangedPortsExactly(t *testing.T) {
	steps := deltaSteps()
	st := Render(steps[0].m).State()
	for _, s := range steps[1:] {
		t.Run(s.name, func(t *testing.T) {
			want := st.chainsDelta(Render(s.m))
			if _, ok := st.portsDelta(s.m); ok != s.ports {
				t.Errorf("renders only the changed ports: %v, want %v", ok, s.ports)
			}
			d, err := Diff(st, s.m)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(d.Payload()); got != string(want.Payload()) {
				t.Errorf("delta:\n%s\nwant:\n%s", got, want.Payload())
			}
			st.Commit(d)
			full := Render(s.m).State()
			if !reflect.DeepEqual(st.tables, full.tables) || st.model != s.m {
				t.Error("the state after Commit is not that of a full load")
			}
			if !reflect.DeepEqual(st.Counts(), full.Counts()) {
				t.Errorf("counts %v, want %v", st.Counts(), full.Counts())
			}
		})
	}
}

// BenchmarkDiffEndpointChange measures the Go side of an incremental sync
// after one endpoint changed at 10,000 Services × 10 endpoints: the whole
// render compared chain by chain, and the render of only the port that
// changed. Both end with the same restore input.
func BenchmarkDiffEndpointChange(b *testing.B) {
	prev := largeModel(10000, 10)
	next := withPortChanged(prev, 5000, func(sp *model.ServicePort) {
		sp.ClusterEndpoints[9].IP = netip.MustParseAddr("10.200.0.1")
	})
	st := Render(prev).State()
	b.Run("whole render", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = st.chainsDelta(Render(next)).Payload()
		}
	})
	b.Run("changed ports", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, ok := st.portsDelta(next)
			if !ok {
				b.Fatal("took the whole render")
			}
			_ = d.Payload()
		}
	})
}
