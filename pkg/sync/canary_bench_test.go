package sync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// BenchmarkCanary times the canary's check of 10,000 Services × 10
// endpoints, every tenth a NodePort, loaded into a namespace: "steady"
// while nothing changes the tables, and "after change" once another
// program has changed them (here, by adding a chain of its own), when
// they are read. Run it with
//
//	go test ./pkg/sync -run '^$' -bench Canary -benchtime 20x
func BenchmarkCanary(b *testing.B) {
	sc, err := bench.BuildScenario(bench.Mix{Services: 10000, Endpoints: 10, NodePortEvery: 10})
	if err != nil {
		b.Fatal(err)
	}
	modes := []struct {
		name        string
		mode        sync.Mode
		overNetlink bool
	}{
		{"iptables-legacy", sync.ModeIPTablesLegacy, false}, {"iptables-nft", sync.ModeIPTablesNFT, false},
		{"nftables/nft", sync.ModeNFTables, false}, {"nftables/netlink", sync.ModeNFTables, true},
	}
	for _, m := range modes {
		mode := m.mode
		b.Run(m.name, func(b *testing.B) {
			netnstest.RequireRoot(b, "nft", "iptables-legacy-restore", "iptables-nft-restore")
			ns := netnstest.New(b)
			r := sync.ExecRunner{Prefix: ns.Prefix()}
			n := &sync.Node{Runner: r, Detector: &sync.Detector{Runner: r}, Request: sync.Request(mode), Stamps: &sync.KernelStamps{NetNS: "/run/netns/" + ns.Name}, NetNS: "/run/netns/" + ns.Name}
			if m.overNetlink {
				n.Netlink = &sync.KernelNetlink{NetNS: "/run/netns/" + ns.Name}
			}
			defer n.Close()
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
				i := 0
				for b.Loop() {
					b.StopTimer()
					i++
					if out, err := ns.Run(nil, "sh", "-c", foreignChange(mode, i)); err != nil {
						b.Fatalf("%v: %s", err, out)
					}
					b.StartTimer()
					check(b)
				}
			})
		})
	}
}

// foreignChange is a shell command that changes the tables of mode the
// way another program would, differently at each i.
func foreignChange(mode sync.Mode, i int) string {
	switch mode {
	case sync.ModeIPTablesLegacy:
		return fmt.Sprintf("iptables-legacy -t filter -N OTHER-%d", i)
	case sync.ModeIPTablesNFT:
		return fmt.Sprintf("iptables-nft -t filter -N OTHER-%d", i)
	}
	return fmt.Sprintf("nft add table ip other%d", i)
}
