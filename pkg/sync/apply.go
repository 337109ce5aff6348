package sync

import (
	"context"
	"time"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// Applier brings one IP family of the kernel to a model's state through
// one backend. Both backends have this one shape; what differs is only
// the renderer behind them and the tool they feed.
type Applier interface {
	// Apply brings the family to m in one atomic transaction. With
	// incremental, it sends only what changed since its last successful
	// apply when its renderer can work that out, and a full ruleset
	// otherwise; the Outcome says which ran and why. A failed apply
	// leaves the previous rules in place and makes the next one full.
	Apply(ctx context.Context, m *model.Model, incremental bool) (Outcome, error)
	// Intact reports whether the rules of the last successful apply are
	// still in the kernel, by looking for their canary. It is cheap
	// enough to run every few seconds.
	Intact(ctx context.Context) (bool, error)
}

var (
	_ Applier = (*NFTables)(nil)
	_ Applier = (*IPTables)(nil)
)

// Outcome is what an Apply did.
type Outcome struct {
	Family model.Family
	// Mode is the backend the family was applied through, once
	// detected.
	Mode Mode
	// Duration is how long the apply took, detection included.
	Duration time.Duration
	// Err is why the apply failed; nil on success.
	Err error
	// Incremental is true when only what changed was sent.
	Incremental bool
	// Fallback says why an incremental apply that was asked for ran in
	// full: an error wrapping render.ErrFullSync when the renderer could
	// not work out a delta, or the error of a delta the kernel refused
	// (the full apply that followed repairs whatever the kernel held).
	// Nil when nothing fell back.
	Fallback error
	// Counts says what the family's tables hold after a successful
	// apply, for metrics; Sent what the apply sent of them, where the
	// backend counts it (iptables).
	Counts, Sent []render.Counts
	// Loader is how nftables mode loaded its last text: "netlink" or
	// "nft"; "" for iptables. LoaderFallback says why nft loaded a text
	// while Netlink was set (nfnl could not encode it, or netlink is
	// unavailable); nil when nothing fell back.
	Loader         string
	LoaderFallback error
	// Conntrack is the UDP conntrack reconciliation after the apply; nil
	// when none ran.
	Conntrack *ConntrackRun
}

// ConntrackRun is one reconciliation of the UDP conntrack entries.
type ConntrackRun struct {
	Duration time.Duration
	Deleted  int
}

// newApplier returns the applier of a detected mode for one family, its
// canary reading stamps through stamps (nil: the rules at every check),
// nftables mode sending through nl (nil: with nft).
func newApplier(r Runner, mode Mode, family model.Family, stamps Stamper, nl BatchSender) Applier {
	if mode == ModeNFTables {
		return &NFTables{Family: family, Runner: r, Stamps: stamps, Netlink: nl}
	}
	return &IPTables{Family: family, Mode: mode, Runner: r, Stamps: stamps}
}

// applyEither is the choice both appliers make for family: with
// incremental, try the delta and, if the renderer or the kernel refuses
// it, apply in full and say why; otherwise apply in full. After a
// success the Outcome carries counts' counts.
func applyEither(family model.Family, incremental bool, delta, full func() error, counts func() []render.Counts) (Outcome, error) {
	out := Outcome{Family: family}
	if incremental {
		err := delta()
		if err == nil {
			out.Incremental, out.Counts = true, counts()
			return out, nil
		}
		out.Fallback = err
	}
	if err := full(); err != nil {
		return out, err
	}
	out.Counts = counts()
	return out, nil
}
