package nftables

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// edit returns a copy of m whose ports are changed by f; the ports f
// leaves alone keep their pointers, as the model builder keeps them.
func edit(m *model.Model, f func(sps []*model.ServicePort) []*model.ServicePort) *model.Model {
	out := *m
	out.Services = f(slices.Clone(m.Services))
	return &out
}

// withPort replaces the port named name by a changed copy.
func withPort(name string, change func(sp *model.ServicePort)) func([]*model.ServicePort) []*model.ServicePort {
	return func(sps []*model.ServicePort) []*model.ServicePort {
		for i, sp := range sps {
			if sp.Name.Name == name {
				c := *sp
				change(&c)
				sps[i] = &c
			}
		}
		return sps
	}
}

func withoutPort(name string) func([]*model.ServicePort) []*model.ServicePort {
	return func(sps []*model.ServicePort) []*model.ServicePort {
		return slices.DeleteFunc(sps, func(sp *model.ServicePort) bool { return sp.Name.Name == name })
	}
}

func withPorts(add ...*model.ServicePort) func([]*model.ServicePort) []*model.ServicePort {
	return func(sps []*model.ServicePort) []*model.ServicePort {
		sps = append(sps, add...)
		slices.SortFunc(sps, func(a, b *model.ServicePort) int { return a.Name.Compare(b.Name) })
		return sps
	}
}

func endpoints(name string, eps ...string) func(*model.ServicePort) {
	return func(sp *model.ServicePort) {
		fresh := svc(name, sp.ClusterIP, eps)
		sp.ClusterEndpoints, sp.LocalEndpoints, sp.HasEndpoints = fresh.ClusterEndpoints, fresh.LocalEndpoints, fresh.HasEndpoints
	}
}

// uncontested returns richModel without its one contested destination:
// a and b share a load balancer IP, and b loses it.
func uncontested(fam model.Family) *model.Model {
	m := richModel(fam)
	return edit(m, withPort("b", func(sp *model.ServicePort) {
		sp.LoadBalancerIPs = []netip.Addr{sp.LoadBalancerIPs[0].Next()}
	}))
}

// TestDiff checks the bookkeeping of deltas: after Diff and Commit the
// index must be the one a full render of the next model builds, and
// changes Diff cannot make exactly must be refused.
func TestDiff(t *testing.T) {
	rich := uncontested(model.IPv4)
	other := svc("z", netip.MustParseAddr("172.30.0.9"), []string{"R10.2.0.5:8080", "L10.1.0.9:8080", "R10.2.0.9:8080"})
	tests := []struct {
		name     string
		prev     *model.Model
		next     *model.Model
		wantFull bool
		// wantText, when set, must be the delta's text.
		wantText string
	}{
		{name: "nothing changed", prev: rich, next: rich},
		{name: "same content, new pointers", prev: rich, next: uncontested(model.IPv4)},
		{name: "endpoint moved", prev: rich, next: edit(rich, withPort("a", endpoints("a", "L10.1.0.5:8080", "R10.2.0.6:8080")))},
		{name: "endpoint count nobody else has", prev: rich, next: edit(rich, withPorts(other))},
		{name: "Service removed", prev: rich, next: edit(rich, withoutPort("b"))},
		{name: "affinity Service removed", prev: rich, next: edit(rich, withoutPort("d"))},
		{name: "affinity endpoints changed", prev: rich, next: edit(rich, withPort("c", endpoints("c", "L10.1.0.5:8080", "R10.2.0.7:8080")))},
		{name: "firewall ranges changed", prev: rich, next: edit(rich, withPort("a", func(sp *model.ServicePort) {
			sp.SourceRanges = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/25")}
		}))},
		{name: "to no endpoints", prev: rich, next: edit(rich, withPort("a", endpoints("a")))},
		{name: "contested destination", prev: rich, next: edit(rich, withPorts(svc("h", netip.MustParseAddr("172.30.0.1"), twoEps))), wantFull: true},
		{name: "port losing a contested destination removed", prev: richModel(model.IPv4), next: edit(richModel(model.IPv4), withoutPort("b")), wantFull: true},
		{name: "configuration changed", prev: rich, next: func() *model.Model { m := *rich; m.Config.MasqueradeAll = true; return &m }(), wantFull: true},
		{name: "node changed", prev: rich, next: func() *model.Model { m := *rich; m.Node.IPs = nil; return &m }(), wantFull: true},
		{name: "unsorted", prev: rich, next: edit(rich, func(sps []*model.ServicePort) []*model.ServicePort {
			sps[0], sps[1] = sps[1], sps[0]
			return sps
		}), wantFull: true},
		{name: "text of one endpoint moved",
			prev: newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, twoEps)),
			next: newModel(model.IPv4, withCIDRs, node4, svc("a", clusterIP, []string{"L10.1.0.5:8080", "R10.2.0.6:8080"})),
			wantText: "delete element ip svcproxy hairpin { 10.2.0.5 . 10.2.0.5 }\n" +
				"delete element ip svcproxy select-tcp-2 { 172.30.0.1 . tcp . 80 . 1 }\n" +
				"add element ip svcproxy hairpin { 10.2.0.6 . 10.2.0.6 }\n" +
				"add element ip svcproxy select-tcp-2 { 172.30.0.1 . tcp . 80 . 1 : 10.2.0.6 . 8080 }\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := RenderRuleset(tt.prev).State()
			d, err := Diff(st, tt.next)
			if tt.wantFull {
				if !errors.Is(err, render.ErrFullSync) {
					t.Fatalf("Diff = %v, want an ErrFullSync", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantText != "" && d.text != tt.wantText {
				t.Errorf("delta:\n%s\nwant:\n%s", d.text, tt.wantText)
			}
			if strings.Contains(d.text, "flush table") {
				t.Errorf("delta reloads the table:\n%s", d.text)
			}
			st.Commit(d)
			if want := RenderRuleset(tt.next).State(); !reflect.DeepEqual(st.idx, want.idx) {
				t.Errorf("index after Commit differs from a full render's: %s",
					cmp.Diff(want.idx, st.idx, cmp.AllowUnexported(Index{})))
			}
			if st.model != tt.next {
				t.Error("the state does not record the next model after Commit")
			}
		})
	}
}

// TestIndexIsTheSumOfFragments checks that the counts a whole render
// keeps are those of its ports rendered alone, which is what Diff
// assumes where no destination is contested (where one is, the loser
// renders less in the whole model, and Diff refuses to touch it).
func TestIndexIsTheSumOfFragments(t *testing.T) {
	for _, fam := range model.Families {
		m := uncontested(fam)
		idx := RenderRuleset(m).index
		claims, chains, shared := map[string]int32{}, map[string]int32{}, map[string]map[addrKey]int32{}
		for _, s := range sharedSets {
			shared[s.name] = map[addrKey]int32{}
		}
		for _, sp := range m.Services {
			f := fragmentOf(m, sp)
			for k, n := range f.claimed {
				claims[k] += n
			}
			for name := range f.chains {
				chains[name]++
			}
			for name, ips := range f.shared {
				for _, ip := range ips {
					shared[name][ip.As16()]++
				}
			}
		}
		for _, c := range []struct {
			name      string
			got, want any
		}{{"claims", idx.claims, claims}, {"chains", idx.chains, chains}, {"shared sets", idx.shared, shared}} {
			if diff := cmp.Diff(c.want, c.got); diff != "" {
				t.Errorf("%s: %s index differs from the fragments' (-fragments +index):\n%s", fam, c.name, diff)
			}
		}
	}
}
