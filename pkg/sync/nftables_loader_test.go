package sync_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/svcproxy/svcproxy/internal/fakenft"
	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// fakeSender answers every batch with err and counts the batches.
type fakeSender struct {
	err     error
	batches int
}

func (f *fakeSender) SendBatch([]nfnl.Message) error {
	f.batches++
	return f.err
}

// loaderStep is one apply and what it must do.
type loaderStep struct {
	incremental bool
	// wantLoader is Outcome.Loader; wantFallback whether LoaderFallback
	// is set; wantErr whether the apply fails.
	wantLoader   string
	wantFallback bool
	wantErr      bool
	// batches and nftLoads are the totals after the step.
	batches, nftLoads int
}

var errUnavailable = fmt.Errorf("%w: opening a netfilter netlink socket: %w", sync.ErrNetlinkUnavailable, unix.EPROTONOSUPPORT)

var loaderCases = []struct {
	name  string
	err   error
	steps []loaderStep
}{
	{"netlink loads everything, nft nothing", nil, []loaderStep{
		{wantLoader: "netlink", batches: 1},
		{incremental: true, wantLoader: "netlink", batches: 2},
	}},
	{"unavailable netlink falls back to nft, and is not tried again", errUnavailable, []loaderStep{
		{wantLoader: "nft", wantFallback: true, batches: 1, nftLoads: 1},
		{incremental: true, wantLoader: "nft", batches: 1, nftLoads: 2},
		{wantLoader: "nft", batches: 1, nftLoads: 3},
	}},
	{"a refused batch fails the apply without nft", &sync.BatchError{Command: "add rule", Err: unix.ENOENT}, []loaderStep{
		{wantLoader: "netlink", wantErr: true, batches: 1},
		{incremental: true, wantLoader: "netlink", wantErr: true, batches: 2},
	}},
}

// TestNFTablesLoaders checks which loader nftables mode uses, and that
// it goes to nft only where netlink is unavailable, never for a batch
// the kernel refused.
func TestNFTablesLoaders(t *testing.T) {
	sc, err := bench.BuildScenario(bench.Mix{Services: 3, Endpoints: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range loaderCases {
		t.Run(tt.name, func(t *testing.T) {
			nft, send := &fakenft.Runner{}, &fakeSender{err: tt.err}
			a := &sync.NFTables{Family: model.IPv4, Runner: nft, Netlink: send}
			for i, step := range tt.steps {
				m := sc.Initial
				if step.incremental {
					m = sc.EndpointChanged
				}
				out, err := a.Apply(context.Background(), m, step.incremental)
				switch {
				case (err != nil) != step.wantErr:
					t.Errorf("step %d: error %v", i, err)
				case out.Loader != step.wantLoader || (out.LoaderFallback != nil) != step.wantFallback:
					t.Errorf("step %d: loader %q, fallback %v", i, out.Loader, out.LoaderFallback)
				case out.LoaderFallback != nil && !errors.Is(out.LoaderFallback, sync.ErrNetlinkUnavailable):
					t.Errorf("step %d: fallback %v, want netlink unavailable", i, out.LoaderFallback)
				}
				if send.batches != step.batches || len(nft.Loads()) != step.nftLoads {
					t.Errorf("step %d: %d batches and %d nft loads, want %d and %d", i, send.batches, len(nft.Loads()), step.batches, step.nftLoads)
				}
			}
		})
	}
}
