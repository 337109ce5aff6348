package sync

import (
	"context"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

// Applier brings one IP family of the kernel to a model's state.
type Applier interface {
	Apply(ctx context.Context, m *model.Model) error
}

var (
	_ Applier = (*NFTables)(nil)
	_ Applier = iptablesApplier{}
)

// NewApplier returns the applier of a detected mode for one family.
func NewApplier(r Runner, mode Mode, family model.Family) Applier {
	if mode == ModeNFTables {
		return &NFTables{Family: family, Runner: r}
	}
	return iptablesApplier{&IPTables{Family: family, Mode: mode, Runner: r}}
}

// iptablesApplier renders a model before applying it through IPTables,
// whose Apply takes the rendered ruleset so tests can apply any payload.
type iptablesApplier struct{ ipt *IPTables }

func (a iptablesApplier) Apply(ctx context.Context, m *model.Model) error {
	return a.ipt.Apply(ctx, iptables.Render(m))
}

// LastStats returns what the last successful apply loaded.
func (a iptablesApplier) LastStats() []TableStats { return a.ipt.stats }
