package sync

import (
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

func TestParseNFTObjects(t *testing.T) {
	out := `{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "ip", "name": "svcproxy"}},
		{"chain": {"family": "ip", "table": "svcproxy", "name": "services"}},
		{"set": {"family": "ip", "table": "svcproxy", "name": "hairpin"}},
		{"map": {"family": "ip", "table": "svcproxy", "name": "select-3"}},
		{"rule": {"family": "ip", "table": "svcproxy", "chain": "services"}}]}`
	got, err := parseNFTObjects([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []nftObject{{"chain", "services"}, {"set", "hairpin"}, {"map", "select-3"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("object %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestStaleDeletes(t *testing.T) {
	text := "add table ip svcproxy\nflush table ip svcproxy\nadd chain ip svcproxy services\n" +
		"add chain ip svcproxy dnat-2\nadd map ip svcproxy select-2 { typeof ip daddr : ip daddr ; }\n"
	existing := []nftObject{{"map", "select-3"}, {"chain", "dnat-2"}, {"chain", "dnat-3"}, {"map", "select-2"}, {"chain", "services"}}
	got := staleDeletes(model.IPv4, objectsOf(model.IPv4, text), existing)
	want := "delete map ip svcproxy select-3\ndelete chain ip svcproxy dnat-3\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(staleDeletes(model.IPv4, objectsOf(model.IPv4, text), nil), "delete") {
		t.Error("deletes without existing objects")
	}
}
