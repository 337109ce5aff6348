package nfnl_test

import (
	"testing"

	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
)

// BenchmarkEncode encodes the full table of 10,000 Services × 10
// endpoints, every tenth a NodePort, as the netlink batch nftables mode
// sends: what replaces nft's parsing of the same text.
func BenchmarkEncode(b *testing.B) {
	sc, err := bench.BuildScenario(bench.Mix{Services: 10000, Endpoints: 10, NodePortEvery: 10})
	if err != nil {
		b.Fatal(err)
	}
	text := string(nftables.RenderRuleset(sc.Initial).Transaction())
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		batch, err := nfnl.NewEncoder(nftables.Family(sc.Initial.Family), nftables.TableName).Encode(text)
		if err != nil {
			b.Fatal(err)
		}
		size := 0
		for _, m := range batch.Messages {
			size += len(m.Data)
		}
		b.ReportMetric(float64(size), "batch-bytes")
	}
}
