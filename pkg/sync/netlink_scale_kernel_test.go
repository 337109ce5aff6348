package sync_test

import (
	"context"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// TestNetlinkMatchesNFTAtScale loads 10,000 Services × 10 endpoints,
// every tenth a NodePort, over netlink and with nft -f, each into its
// own namespace: nft must list the two tables identically, handles
// included. Then the scenario's changes (an endpoint moved, a Service
// added, one removed) go over netlink as deltas, and the table must end
// as a full apply of the last state leaves it.
func TestNetlinkMatchesNFTAtScale(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	sc, err := bench.BuildScenario(bench.Mix{Services: 10000, Endpoints: 10, NodePortEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	viaNetlink, viaNFT := netnstest.New(t), netnstest.New(t)
	send := &sync.KernelNetlink{NetNS: "/run/netns/" + viaNetlink.Name}
	t.Cleanup(func() { send.Close() })
	nl := &sync.NFTables{Family: model.IPv4, Runner: sync.ExecRunner{Prefix: viaNetlink.Prefix()}, Netlink: send}
	ref := &sync.NFTables{Family: model.IPv4, Runner: sync.ExecRunner{Prefix: viaNFT.Prefix()}}
	if out, err := nl.Apply(ctx, sc.Initial, false); err != nil || out.Loader != "netlink" {
		t.Fatalf("netlink apply: loader %q, fallback %v, error %v", out.Loader, out.LoaderFallback, err)
	}
	if _, err := ref.Apply(ctx, sc.Initial, false); err != nil {
		t.Fatal(err)
	}
	if got, want := netnstest.NFTListing(t, viaNetlink, "ip", "svcproxy"), netnstest.NFTListing(t, viaNFT, "ip", "svcproxy"); got != want {
		t.Fatalf("over netlink the table lists differently from nft -f (%d bytes against %d)", len(got), len(want))
	}
	for _, step := range []*model.Model{sc.EndpointChanged, sc.ServiceAdded, sc.ServiceRemoved} {
		out, err := nl.Apply(ctx, step, true)
		if err != nil || !out.Incremental || out.Loader != "netlink" {
			t.Fatalf("delta: incremental %v, loader %q, fallback %v, error %v", out.Incremental, out.Loader, out.LoaderFallback, err)
		}
	}
	if _, err := ref.Apply(ctx, sc.ServiceRemoved, false); err != nil {
		t.Fatal(err)
	}
	got := netnstest.CanonicalNFTTable(t, viaNetlink, "ip", "svcproxy")
	if want := netnstest.CanonicalNFTTable(t, viaNFT, "ip", "svcproxy"); got != want {
		t.Errorf("after the deltas over netlink the table differs from a full apply of the same state")
	}
}
