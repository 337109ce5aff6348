package sync

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	stdsync "sync"

	"github.com/svcproxy/svcproxy/pkg/conntrack"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
)

// ConntrackCleaner deletes stale UDP conntrack entries. UDP has no
// connection end, so without it a client (DNS, most often) keeps sending
// to a dead backend, or keeps being refused by a Service that has
// endpoints again, for as long as it keeps sending.
type ConntrackCleaner interface {
	DeleteUDPEndpoints(family model.Family, endpoints []netip.AddrPort) (int, error)
	DeleteUDPServiceIP(ip netip.Addr, port uint16) (int, error)
}

var _ ConntrackCleaner = (*conntrack.Cleaner)(nil)

// Node brings this node's rules to successive models: it detects each
// family's backend on first use, applies, and cleans up conntrack entries
// the new rules made stale.
type Node struct {
	Runner   Runner
	Detector *Detector
	// Request is the --proxy-mode: auto, nftables, iptables, ….
	Request string
	// Conntrack may be nil (no cleanup).
	Conntrack ConntrackCleaner

	// mu guards the maps: Apply runs in the sync loop while Intact runs
	// in a canary goroutine.
	mu       stdsync.Mutex
	modes    map[model.Family]Mode
	applied  map[model.Family]*model.Model
	stats    map[model.Family][]TableStats
	appliers map[model.Family]Applier
}

// updater is an Applier that can apply only what changed since its last
// apply, when that provably reaches the same state.
type updater interface {
	Update(ctx context.Context, m *model.Model) error
}

var _ updater = (*NFTables)(nil)

// Apply applies every model in full, one atomic transaction per family. A
// family that fails keeps its previous rules; the others are still
// applied, and the error names every failure.
func (n *Node) Apply(ctx context.Context, models []*model.Model) error {
	return n.apply(ctx, models, true)
}

// Update is Apply for a sync that may be incremental: backends that can
// send only what changed since their last apply do so (nftables), the
// others apply in full.
func (n *Node) Update(ctx context.Context, models []*model.Model) error {
	return n.apply(ctx, models, false)
}

func (n *Node) apply(ctx context.Context, models []*model.Model, full bool) error {
	var errs []error
	for _, m := range models {
		if err := n.applyFamily(ctx, m, full); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Mode returns the backend detected for a family, "" before its first sync.
func (n *Node) Mode(family model.Family) Mode {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.modes[family]
}

func (n *Node) applyFamily(ctx context.Context, m *model.Model, full bool) error {
	mode, err := n.mode(ctx, m.Family)
	if err != nil {
		return err
	}
	a := n.applier(mode, m.Family)
	if u, ok := a.(updater); ok && !full {
		err = u.Update(ctx, m)
	} else {
		err = a.Apply(ctx, m)
	}
	if err != nil {
		return fmt.Errorf("applying %s rules: %w", m.Family, err)
	}
	n.mu.Lock()
	prev := n.applied[m.Family]
	if n.applied == nil {
		n.applied, n.stats = map[model.Family]*model.Model{}, map[model.Family][]TableStats{}
	}
	n.applied[m.Family] = m
	if r, ok := a.(statsReporter); ok {
		n.stats[m.Family] = r.LastStats()
	}
	n.mu.Unlock()
	if n.Conntrack == nil || prev == nil {
		return nil
	}
	return n.cleanConntrack(prev, m)
}

// cleanConntrack deletes the entries the new rules made stale: those
// DNATed to removed UDP endpoints, and those of Services that had no
// endpoint (and so were never DNATed) but have one now.
func (n *Node) cleanConntrack(prev, next *model.Model) error {
	if stale := conntrack.StaleUDPEndpoints(prev, next); len(stale) > 0 {
		if _, err := n.Conntrack.DeleteUDPEndpoints(next.Family, stale); err != nil {
			return fmt.Errorf("deleting conntrack entries of removed %s UDP endpoints: %w", next.Family, err)
		}
	}
	for _, addr := range conntrack.RevivedUDPServiceAddrs(prev, next) {
		if _, err := n.Conntrack.DeleteUDPServiceIP(addr.Addr(), addr.Port()); err != nil {
			return fmt.Errorf("deleting conntrack entries of %s: %w", addr, err)
		}
	}
	return nil
}

// applier returns the family's applier, made once so that it can
// remember what it loaded.
func (n *Node) applier(mode Mode, family model.Family) Applier {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.appliers == nil {
		n.appliers = map[model.Family]Applier{}
	}
	if n.appliers[family] == nil {
		n.appliers[family] = NewApplier(n.Runner, mode, family)
	}
	return n.appliers[family]
}

func (n *Node) mode(ctx context.Context, family model.Family) (Mode, error) {
	if mode := n.Mode(family); mode != "" {
		return mode, nil
	}
	d, err := n.Detector.Detect(ctx, n.Request, family)
	if err != nil {
		return "", fmt.Errorf("detecting the %s backend: %w", family, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.modes == nil {
		n.modes = map[model.Family]Mode{}
	}
	n.modes[family] = d.Mode
	return d.Mode, nil
}

// Intact reports whether the rules of every applied family are still in
// the kernel, by checking for the one rule every ruleset starts from (the
// jump into svcproxy's service dispatch). It is cheap enough to run every
// few seconds, so rules another program flushed are noticed well before
// the next periodic full sync.
func (n *Node) Intact(ctx context.Context) (bool, error) {
	n.mu.Lock()
	applied := map[model.Family]Mode{}
	for family, mode := range n.modes {
		if n.applied[family] != nil {
			applied[family] = mode
		}
	}
	n.mu.Unlock()
	for family, mode := range applied {
		ok, err := canaryPresent(ctx, n.Runner, family, mode)
		// A check cut short by ctx proves nothing either way; above all
		// not that the rules are gone.
		if ctxErr := ctx.Err(); ctxErr != nil {
			return false, fmt.Errorf("checking the %s rules: %w", family, ctxErr)
		}
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func canaryPresent(ctx context.Context, r Runner, family model.Family, mode Mode) (bool, error) {
	if mode == ModeNFTables {
		out, err := r.Run(ctx, nil, "nft", "list", "chain", string(nftables.Family(family)), nftables.TableName, "nat-prerouting")
		if err != nil {
			var ce *CommandError
			if errors.As(err, &ce) && ce.ExitCode != 0 {
				return false, nil
			}
			return false, err
		}
		return strings.Contains(string(out), "jump services"), nil
	}
	jump := iptables.DispatchJump()
	_, err := r.Run(ctx, nil, IPTablesCommand(family, mode, ""), append([]string{"-w", "-t", "nat", "-C", jump.Chain}, iptables.Args(jump.Rule)...)...)
	var ce *CommandError
	if errors.As(err, &ce) && ce.ExitCode == 1 {
		return false, nil
	}
	return err == nil, err
}
