package sync

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestNFTablesUpdateReachesTheFullState applies one state in full, then
// a series of changes incrementally, and compares the resulting table
// with a full apply of the final state in another namespace: the
// incremental path must end exactly where a full sync would.
func TestNFTablesUpdateReachesTheFullState(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ctx := context.Background()
	// Each step changes the previous one.
	addressChanged := strings.Replace(trafficServices,
		"10.1.4.8], nodeName: node-b}\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: lb}",
		"10.1.4.9], nodeName: node-b}\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: lb}", 1)
	// One of web's three endpoints gone: its destination moves to the
	// chains and map for two endpoints, which the delta adds; those for
	// three, which nobody uses any more, it deletes.
	endpointRemoved := strings.Replace(addressChanged,
		"- {addresses: [10.1.3.7], nodeName: node-b}\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: np}",
		"---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: np}", 1)
	addressChangedAgain := strings.Replace(endpointRemoved, "10.1.4.9], nodeName: node-b}", "10.1.4.10], nodeName: node-b}", 1)
	steps := []string{trafficServices, addressChanged, endpointRemoved, addressChangedAgain}
	for i := 1; i < len(steps); i++ {
		if steps[i] == steps[i-1] {
			t.Fatalf("step %d changes nothing: the test's replacements are stale", i)
		}
	}
	fresh := netnstest.New(t)
	b := &NFTables{Family: model.IPv4, Runner: ExecRunner{Prefix: fresh.Prefix()}}
	if _, err := b.Apply(ctx, trafficModel(t, steps[len(steps)-1]), false); err != nil {
		t.Fatal(err)
	}
	for _, loader := range nftablesLoaders {
		t.Run(loader, func(t *testing.T) {
			ns := netnstest.New(t)
			a := newTestNFTables(ns, ExecRunner{Prefix: ns.Prefix()}, loader)
			if _, err := applyVia(t, a, trafficModel(t, steps[0]), false, loader); err != nil {
				t.Fatal(err)
			}
			var paths []bool
			for _, s := range steps[1:] {
				out, err := applyVia(t, a, trafficModel(t, s), true, loader)
				if err != nil {
					t.Fatal(err)
				}
				paths = append(paths, out.Incremental)
			}
			if want := []bool{true, true, true}; !slices.Equal(paths, want) {
				t.Errorf("incremental paths taken: %v, want %v", paths, want)
			}
			if got, want := canonicalTable(t, ns), canonicalTable(t, fresh); got != want {
				t.Errorf("after incremental updates the table differs from a full apply with nft:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// nftablesLoaders are the two ways nftables mode loads its texts, for
// the tests that must hold for both.
var nftablesLoaders = []string{"netlink", "nft"}

// newTestNFTables returns an IPv4 nftables applier working in ns through
// r, loading with loader.
func newTestNFTables(ns *netns.NS, r Runner, loader string) *NFTables {
	a := &NFTables{Family: model.IPv4, Runner: r}
	if loader == "netlink" {
		a.Netlink = &KernelNetlink{NetNS: "/run/netns/" + ns.Name}
	}
	return a
}

// applyVia applies m and checks that the loader asked for did the work,
// with no fallback to nft (an empty delta loads nothing).
func applyVia(t *testing.T, a *NFTables, m *model.Model, incremental bool, loader string) (Outcome, error) {
	t.Helper()
	out, err := a.Apply(context.Background(), m, incremental)
	nothingSent := out.Incremental && out.Loader == ""
	if err == nil && ((out.Loader != loader && !nothingSent) || out.LoaderFallback != nil) {
		t.Errorf("loaded by %q (fallback: %v), want %q", out.Loader, out.LoaderFallback, loader)
	}
	return out, err
}

// canonicalTable lists svcproxy's IPv4 table canonically
// (netnstest.CanonicalNFTTable).
func canonicalTable(t *testing.T, ns *netns.NS) string {
	t.Helper()
	return netnstest.CanonicalNFTTable(t, ns, "ip", "svcproxy")
}
