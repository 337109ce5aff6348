package sync

import (
	"context"
	"errors"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
)

// countingSender takes every batch and counts them.
type countingSender struct{ batches int }

func (c *countingSender) SendBatch([]nfnl.Message) error {
	c.batches++
	return nil
}

// TestNFTablesUnsupportedTextGoesToNFT checks the loader's fallback for
// a text the encoder cannot read: nft loads it, and the deltas after
// it, whose sets the encoder never saw, until a full text, which goes
// over netlink again.
func TestNFTablesUnsupportedTextGoesToNFT(t *testing.T) {
	r, send := &fakeRunner{}, &countingSender{}
	a := &NFTables{Family: model.IPv4, Runner: r, Netlink: send}
	ctx := context.Background()
	if _, err := a.Apply(ctx, unitModel("10.1.2.6"), false); err != nil || a.loader != "netlink" {
		t.Fatalf("full apply: loader %q, error %v", a.loader, err)
	}
	steps := []struct {
		text       string
		full       bool
		wantLoader string
		wantNFT    int
	}{
		{"add rule ip svcproxy services counter\n", false, "nft", 1},
		{"add element ip svcproxy cluster-ips { 172.30.0.11 }\n", false, "nft", 2},
		{"add table ip svcproxy\ndelete table ip svcproxy\nadd table ip svcproxy\n", true, "netlink", 2},
	}
	for i, s := range steps {
		a.loader, a.loaderFallback = "", nil
		if err := a.load(ctx, []byte(s.text), s.full); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if a.loader != s.wantLoader || len(r.ran) != s.wantNFT {
			t.Errorf("step %d: loaded by %q with %d nft runs, want %q and %d", i, a.loader, len(r.ran), s.wantLoader, s.wantNFT)
		}
		if s.wantLoader == "nft" && !errors.Is(a.loaderFallback, nfnl.ErrUnsupported) && i == 0 {
			t.Errorf("step %d: fallback %v, want the encoder's refusal", i, a.loaderFallback)
		}
	}
	if send.batches != 2 {
		t.Errorf("%d batches sent, want the two full ones", send.batches)
	}
}
