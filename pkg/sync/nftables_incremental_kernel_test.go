package sync

import (
	"context"
	"encoding/json"
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
	ns := netnstest.New(t)
	a := &NFTables{Family: model.IPv4, Runner: ExecRunner{Prefix: ns.Prefix()}}
	if _, err := a.Apply(ctx, trafficModel(t, steps[0]), false); err != nil {
		t.Fatal(err)
	}
	var paths []bool
	for _, s := range steps[1:] {
		out, err := a.Apply(ctx, trafficModel(t, s), true)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, out.Incremental)
	}
	if want := []bool{true, true, true}; !slices.Equal(paths, want) {
		t.Errorf("incremental paths taken: %v, want %v", paths, want)
	}
	fresh := netnstest.New(t)
	b := &NFTables{Family: model.IPv4, Runner: ExecRunner{Prefix: fresh.Prefix()}}
	if _, err := b.Apply(ctx, trafficModel(t, steps[len(steps)-1]), false); err != nil {
		t.Fatal(err)
	}
	if got, want := canonicalTable(t, ns), canonicalTable(t, fresh); got != want {
		t.Errorf("after incremental updates the table differs from a full apply:\n%s\nwant:\n%s", got, want)
	}
}

// canonicalTable lists the table as JSON without handles, with every
// set's elements sorted: element order in a listing depends on insertion
// order, handles on history, and neither is state.
func canonicalTable(t *testing.T, ns *netns.NS) string {
	t.Helper()
	out, err := ns.Run(nil, "nft", "--json", "list", "table", "ip", "svcproxy")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string][]map[string]map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, entry := range doc["nftables"] {
		for kind, obj := range entry {
			if kind == "metainfo" {
				continue
			}
			delete(obj, "handle")
			if elems, ok := obj["elem"].([]any); ok {
				slices.SortFunc(elems, func(x, y any) int { return strings.Compare(jsonString(x), jsonString(y)) })
			}
			lines = append(lines, kind+" "+jsonString(obj))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
