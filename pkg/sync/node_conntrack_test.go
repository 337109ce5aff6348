package sync_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/svcproxy/svcproxy/internal/fakenft"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// reconciler records the models conntrack is reconciled with.
type reconciler struct{ models []*model.Model }

func (r *reconciler) ReconcileUDP(m *model.Model) (int, error) {
	r.models = append(r.models, m)
	return len(r.models), nil
}

// TestNodeReconcilesConntrackAfterEveryApply checks that conntrack is
// reconciled with each applied model, the first after a restart
// included: entries a previous run left stale are cleaned up too, as
// kube-proxy cleans them.
func TestNodeReconcilesConntrackAfterEveryApply(t *testing.T) {
	nft := &fakenft.Runner{}
	ct := &reconciler{}
	n := &sync.Node{Runner: nft, Detector: &sync.Detector{Runner: nft, KernelRelease: fakenft.KernelRelease},
		Request: sync.RequestNFTables, Conntrack: ct}
	m := &model.Model{Family: model.IPv4, Node: model.Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10")}}}
	for i := 1; i <= 2; i++ {
		outs, err := n.Apply(context.Background(), []*model.Model{m}, i > 1)
		if err != nil {
			t.Fatal(err)
		}
		if c := outs[0].Conntrack; c == nil || c.Deleted != i {
			t.Errorf("apply %d reports the reconciliation %+v, want %d entries deleted", i, c, i)
		}
		if len(ct.models) != i || ct.models[i-1] != m {
			t.Fatalf("after apply %d, conntrack was reconciled with %d models, want %d, the last the one applied", i, len(ct.models), i)
		}
	}
}
