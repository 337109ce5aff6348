package proxy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/svcproxy/svcproxy/internal/fakenft"
	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// BenchmarkSyncOneEndpointChange measures the user-space work of one
// partial sync, from the tracker's snapshot to the transaction handed to
// nft, after one endpoint of one Service changed among 10,000 Services of
// 10 endpoints: what a change costs a proxy before the kernel sees it.
func BenchmarkSyncOneEndpointChange(b *testing.B) {
	const services = 10000
	in, err := bench.Generate(bench.Mix{Services: services, Endpoints: 10, NodePortEvery: 10})
	if err != nil {
		b.Fatal(err)
	}
	nft := &fakenft.Runner{}
	p, err := New(Config{
		Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), Client: fake.NewClientset(),
		NodeName: bench.NodeName, Model: bench.Config(),
		Node: &sync.Node{Runner: nft, Request: sync.RequestNFTables,
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
	ctx := context.Background()
	if err := p.sync(ctx, true); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		old := in.EndpointSlices[i%services]
		moved := old.DeepCopy()
		moved.Endpoints[1].Addresses = []string{fmt.Sprintf("10.250.%d.%d", i/250%250, i%250+1)}
		in.EndpointSlices[i%services] = moved
		b.StartTimer()
		p.tracker.OnEndpointSliceUpdate(old, moved)
		if err := p.sync(ctx, false); err != nil {
			b.Fatal(err)
		}
	}
}
