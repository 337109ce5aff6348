package netnstest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// CanonicalNFTTable lists an nftables table of ns as JSON without
// handles, with every set's elements sorted and the objects in order:
// element order in a listing depends on insertion order, handles on
// history, and neither is state.
func CanonicalNFTTable(t testing.TB, ns *netns.NS, family, table string) string {
	t.Helper()
	out, err := ns.Run(nil, "nft", "--json", "list", "table", family, table)
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

// NFTListing returns `nft -a list table` of a table of ns, but for the
// table's own handle, which counts the namespace's tables and so differs
// between two loads of the same table.
func NFTListing(t testing.TB, ns *netns.NS, family, table string) string {
	t.Helper()
	out, err := ns.Run(nil, "nft", "-a", "list", "table", family, table)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(out, "\n")
	first, _, _ = strings.Cut(first, " # handle ")
	return first + "\n" + rest
}
