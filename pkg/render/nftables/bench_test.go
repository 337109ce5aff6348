package nftables

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// BenchmarkRenderRuleset renders 10,000 Services × 10 endpoints (every
// tenth with a NodePort) to the text the applier loads, with the index an
// incremental sync starts from: the Go side of a full sync.
func BenchmarkRenderRuleset(b *testing.B) {
	m := bigModel(10000, 10)
	b.ReportAllocs()
	for b.Loop() {
		_ = RenderRuleset(m)
	}
}

// oneEndpointMoved returns m with the first endpoint of Service 5000
// moved to another address; with shared, the other ports keep their
// pointers (as the model builder keeps them), else every port is a copy
// (as separate model.Build calls make them).
func oneEndpointMoved(m *model.Model, shared bool) *model.Model {
	out := *m
	out.Services = slices.Clone(m.Services)
	for i, sp := range out.Services {
		if !shared || i == 5000 {
			c := *sp
			c.ClusterEndpoints = slices.Clone(sp.ClusterEndpoints)
			out.Services[i] = &c
		}
	}
	out.Services[5000].ClusterEndpoints[0].IP = netip.MustParseAddr("10.2.255.1")
	return &out
}

// BenchmarkDiffOneEndpoint computes the delta of one endpoint change at
// 10,000 Services × 10 endpoints, from models that share no pointer: every
// port is compared field by field.
func BenchmarkDiffOneEndpoint(b *testing.B) { benchmarkDiff(b, false) }

// BenchmarkDiffOneEndpointSharedPointers is the same change between
// models that share the pointers of unchanged ports, as the model
// builder makes them.
func BenchmarkDiffOneEndpointSharedPointers(b *testing.B) { benchmarkDiff(b, true) }

func benchmarkDiff(b *testing.B, shared bool) {
	prev := bigModel(10000, 10)
	next := oneEndpointMoved(prev, shared)
	st := RenderRuleset(prev).State()
	b.ReportAllocs()
	for b.Loop() {
		d, err := Diff(st, next)
		if err != nil || d.ports != 1 {
			b.Fatalf("Diff: %v, %+v", err, d)
		}
	}
}
