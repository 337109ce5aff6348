package proxy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/svcproxy/svcproxy/internal/fakenft"
	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// benchServices is the cluster size of the proxy's benchmarks, that of
// BENCHMARKS.md's runs: 10,000 Services of 10 endpoints.
const benchServices = 10000

// discardNetlink stands in for the kernel behind sync.BatchSender: it
// takes every batch, so that a benchmark pays for the encoding and not
// for a commit.
type discardNetlink struct{}

var _ sync.BatchSender = discardNetlink{}

func (discardNetlink) SendBatch([]nfnl.Message) error { return nil }

// benchProxy returns a proxy in nftables mode over netlink, without a
// kernel, whose tracker holds the benchmark cluster, after its first
// full sync; and the cluster's EndpointSlices.
func benchProxy(b *testing.B) (*Proxy, []*discovery.EndpointSlice) {
	b.Helper()
	in, err := bench.Generate(bench.Mix{Services: benchServices, Endpoints: 10, NodePortEvery: 10})
	if err != nil {
		b.Fatal(err)
	}
	nft := &fakenft.Runner{}
	p, err := New(Config{
		Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), Client: fake.NewClientset(),
		NodeName: bench.NodeName, Model: bench.Config(),
		Node: &sync.Node{Runner: nft, Request: sync.RequestNFTables, Netlink: discardNetlink{},
			Detector: &sync.Detector{Runner: nft, KernelRelease: fakenft.KernelRelease}},
	})
	if err != nil {
		b.Fatal(err)
	}
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: bench.NodeName}}
	for _, a := range in.Node.IPs {
		node.Status.Addresses = append(node.Status.Addresses, v1.NodeAddress{Type: v1.NodeInternalIP, Address: a.String()})
	}
	p.tracker.OnNodeAdd(node)
	for i := range in.Services {
		p.tracker.OnServiceAdd(in.Services[i])
		p.tracker.OnEndpointSliceAdd(in.EndpointSlices[i])
	}
	if err := p.sync(context.Background(), true); err != nil {
		b.Fatal(err)
	}
	return p, in.EndpointSlices
}

// BenchmarkSyncOneEndpointChange measures the user-space work of one
// partial sync, from the tracker's snapshot to the batch handed to
// netlink, after one endpoint of one Service moved: what a change costs
// the proxy before the kernel sees it.
func BenchmarkSyncOneEndpointChange(b *testing.B) {
	p, slices := benchProxy(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		old := slices[i%len(slices)]
		moved := old.DeepCopy()
		moved.Endpoints[1].Addresses = []string{fmt.Sprintf("10.250.%d.%d", i/250%250, i%250+1)}
		slices[i%len(slices)] = moved
		b.StartTimer()
		p.tracker.OnEndpointSliceUpdate(old, moved)
		if err := p.sync(ctx, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncFull measures the user-space work of a full sync of the
// whole cluster, as the periodic one and, with backend detection and the
// takeover around it, the first: build, render and encode, up to the
// batch handed to netlink.
func BenchmarkSyncFull(b *testing.B) {
	p, _ := benchProxy(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := p.sync(ctx, true); err != nil {
			b.Fatal(err)
		}
	}
}
