package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// BenchmarkNFTablesFirstApply times nftables mode's full apply of 10,000
// Services × 10 endpoints over netlink into an empty namespace (render,
// encode, send), beside the kernel alone committing the same batch,
// encoded beforehand, into another: apply-ms against commit-ms. Run it
// with
//
//	go test ./pkg/sync -run '^$' -bench NFTablesFirstApply -benchtime 3x
func BenchmarkNFTablesFirstApply(b *testing.B) {
	netnstest.RequireRoot(b, "nft")
	sc, err := bench.BuildScenario(bench.Mix{Services: 10000, Endpoints: 10, NodePortEvery: 10})
	if err != nil {
		b.Fatal(err)
	}
	var apply, commit time.Duration
	for b.Loop() {
		b.StopTimer()
		ns, raw := netnstest.New(b), netnstest.New(b)
		nl, send := &sync.KernelNetlink{NetNS: "/run/netns/" + ns.Name}, &sync.KernelNetlink{NetNS: "/run/netns/" + raw.Name}
		a := &sync.NFTables{Family: model.IPv4, Runner: sync.ExecRunner{Prefix: ns.Prefix()}, Netlink: nl}
		batch, err := nfnl.NewEncoder(nftables.Family(model.IPv4), nftables.TableName).Encode(string(nftables.RenderRuleset(sc.Initial).Transaction()))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := a.Apply(context.Background(), sc.Initial, false); err != nil {
			b.Fatal(err)
		}
		apply += time.Since(start)
		start = time.Now()
		err = send.SendBatch(batch.Messages)
		nl.Close()
		send.Close()
		if err != nil {
			b.Fatal(err)
		}
		commit += time.Since(start)
	}
	b.ReportMetric(float64(apply.Milliseconds())/float64(b.N), "apply-ms")
	b.ReportMetric(float64(commit.Milliseconds())/float64(b.N), "commit-ms")
	b.ReportMetric(0, "ns/op")
}
