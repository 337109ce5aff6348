package sync_test

import (
	"context"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// BenchmarkCanary times the canary's check of 10,000 Services × 10
// endpoints, every tenth a NodePort, loaded into a namespace: "steady"
// while nothing changes the tables, "after change" once something has
// (here, an apply), when the tables are read in full. Run it with
//
//	go test ./pkg/sync -run '^$' -bench Canary -benchtime 20x
func BenchmarkCanary(b *testing.B) {
	sc, err := bench.BuildScenario(bench.Mix{Services: 10000, Endpoints: 10, NodePortEvery: 10})
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []sync.Mode{sync.ModeIPTablesLegacy, sync.ModeIPTablesNFT, sync.ModeNFTables} {
		b.Run(string(mode), func(b *testing.B) {
			netnstest.RequireRoot(b, "nft", "iptables-legacy-restore", "iptables-nft-restore")
			ns := netnstest.New(b)
			r := sync.ExecRunner{Prefix: ns.Prefix()}
			n := &sync.Node{Runner: r, Detector: &sync.Detector{Runner: r}, Request: sync.Request(mode), NetNS: "/run/netns/" + ns.Name}
			ctx := context.Background()
			if _, err := n.Apply(ctx, []*model.Model{sc.Initial}, false); err != nil {
				b.Fatal(err)
			}
			check := func(b *testing.B) {
				if ok, err := n.Intact(ctx); err != nil || !ok {
					b.Fatalf("Intact = %v, %v", ok, err)
				}
			}
			b.Run("steady", func(b *testing.B) {
				check(b)
				for b.Loop() {
					check(b)
				}
			})
			b.Run("after change", func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					if _, err := n.Apply(ctx, []*model.Model{sc.Initial}, true); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					check(b)
				}
			})
		})
	}
}
