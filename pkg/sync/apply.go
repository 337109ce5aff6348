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
	return a.withModel(ctx, m, a.ipt.Apply)
}

// withModel renders m, loads it with load, and on success records m as
// the model of what is loaded, so the next Update can render only the
// service ports that changed since.
func (a iptablesApplier) withModel(ctx context.Context, m *model.Model, load func(context.Context, *iptables.Ruleset) error) error {
	rs := iptables.Render(m)
	if err := load(ctx, rs); err != nil {
		return err
	}
	if a.ipt.loaded != nil {
		a.ipt.loaded.setModel(rs, m)
	}
	return nil
}

// LastStats returns what the last successful apply loaded.
func (a iptablesApplier) LastStats() []TableStats { return a.ipt.stats }
