package sync

import (
	"context"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestNodeNoticesFlushedRules applies rules through Node in each mode,
// then lets "another program" flush them: Intact must say so, and a new
// Apply must repair them.
func TestNodeNoticesFlushedRules(t *testing.T) {
	flush := map[Mode][]string{
		ModeNFTables:       {"nft", "delete", "table", "ip", "svcproxy"},
		ModeIPTablesNFT:    {"iptables-nft", "-t", "nat", "-F"},
		ModeIPTablesLegacy: {"iptables-legacy", "-t", "nat", "-F"},
	}
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			netnstest.RequireRoot(t, "nft", "iptables-legacy", "iptables-nft")
			ns := netnstest.New(t)
			r := ExecRunner{Prefix: ns.Prefix()}
			n := &Node{Runner: r, Detector: &Detector{Runner: r}, Request: Request(mode)}
			models := []*model.Model{trafficModel(t, trafficServices)}
			ctx := context.Background()
			if _, err := n.Apply(ctx, models, false); err != nil {
				t.Fatal(err)
			}
			checkIntact(t, n, true)
			if _, err := ns.Run(nil, flush[mode][0], flush[mode][1:]...); err != nil {
				t.Fatal(err)
			}
			checkIntact(t, n, false)
			if _, err := n.Apply(ctx, models, false); err != nil {
				t.Fatal(err)
			}
			checkIntact(t, n, true)
		})
	}
}

func checkIntact(t *testing.T, n *Node, want bool) {
	t.Helper()
	got, err := n.Intact(context.Background())
	if err != nil {
		t.Fatalf("Intact: %v", err)
	}
	if got != want {
		t.Errorf("Intact = %v, want %v", got, want)
	}
}
