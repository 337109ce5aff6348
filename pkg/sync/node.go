package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	stdsync "sync"
	"time"

	"github.com/svcproxy/svcproxy/internal/sysctl"
	"github.com/svcproxy/svcproxy/pkg/conntrack"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// ConntrackCleaner deletes stale UDP conntrack entries. UDP has no
// connection end, so without it a client (DNS, most often) keeps sending
// to a dead backend, or keeps being refused by a Service that has
// endpoints again, for as long as it keeps sending.
type ConntrackCleaner interface {
	ReconcileUDP(m *model.Model) (int, error)
}

var _ ConntrackCleaner = (*conntrack.Cleaner)(nil)

// SysctlSetter sets the node's sysctls that rules depend on.
type SysctlSetter interface {
	Ensure(name string, value int) (bool, error)
}

var _ SysctlSetter = (*sysctl.Sysctls)(nil)

// routeLocalnet lets the node route packets to and from 127.0.0.0/8
// beyond the loopback interface, which localhost NodePorts need once
// DNAT has sent them to a pod.
const routeLocalnet = "net/ipv4/conf/all/route_localnet"

// Node brings this node's rules to successive models: it detects each
// family's backend on first use, applies, and cleans up conntrack entries
// the new rules made stale.
type Node struct {
	Runner   Runner
	Detector *Detector
	// Request is the --proxy-mode: auto, nftables, iptables, ….
	Request Request
	// Conntrack may be nil (no cleanup).
	Conntrack ConntrackCleaner
	// Sysctls sets what Initialize sets; it may be nil when Initialize
	// is not called.
	Sysctls SysctlSetter
	// Stamps reads the stamps of the rules, for a canary whose checks
	// cost the same at any size; nil reads the rules at every check.
	Stamps Stamper
	// Netlink sends nftables mode's transactions; nil loads them with
	// nft.
	Netlink BatchSender
	// NetNS is the network namespace Runner's commands work in, for the
	// nfacct counters Initialize makes ("" for the process's).
	NetNS string

	// busy serializes Apply and Intact, which both use what the appliers
	// remember of the loaded rules.
	busy stdsync.Mutex

	// mu guards the maps: Apply runs in the sync loop while Intact runs
	// in a canary goroutine.
	mu       stdsync.Mutex
	modes    map[model.Family]Mode
	applied  map[model.Family]*model.Model
	appliers map[model.Family]Applier
}

// Close closes what Stamps and Netlink keep open, where they keep
// anything: their netlink sockets, which also hold the network
// namespace they were opened in. The rules stay.
func (n *Node) Close() error {
	var errs []error
	for _, x := range []any{n.Stamps, n.Netlink} {
		if c, ok := x.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Apply brings every family to its model, one atomic transaction each;
// with incremental, each family sends only what changed since its last
// apply where its renderer can work that out. A family that fails keeps
// its previous rules; the others are still applied, and the error names
// every failure. There is one Outcome a model, failed or not.
func (n *Node) Apply(ctx context.Context, models []*model.Model, incremental bool) ([]Outcome, error) {
	n.busy.Lock()
	defer n.busy.Unlock()
	var errs []error
	outs := make([]Outcome, 0, len(models))
	for _, m := range models {
		start := time.Now()
		out, err := n.applyFamily(ctx, m, incremental)
		out.Family, out.Mode, out.Duration, out.Err = m.Family, n.Mode(m.Family), time.Since(start), err
		if err != nil {
			errs = append(errs, err)
		}
		outs = append(outs, out)
	}
	return outs, errors.Join(errs...)
}

// Mode returns the backend detected for a family, "" before its first sync.
func (n *Node) Mode(family model.Family) Mode {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.modes[family]
}

func (n *Node) applyFamily(ctx context.Context, m *model.Model, incremental bool) (Outcome, error) {
	mode, err := n.mode(ctx, m.Family)
	if err != nil {
		return Outcome{}, err
	}
	a := n.applier(mode, m.Family)
	out, err := a.Apply(ctx, m, incremental)
	if err != nil {
		return out, fmt.Errorf("applying %s rules: %w", m.Family, err)
	}
	n.mu.Lock()
	if n.applied == nil {
		n.applied = map[model.Family]*model.Model{}
	}
	n.applied[m.Family] = m
	n.mu.Unlock()
	if n.Conntrack == nil {
		return out, nil
	}
	start := time.Now()
	deleted, err := n.cleanConntrack(m)
	out.Conntrack = &ConntrackRun{Duration: time.Since(start), Deleted: deleted}
	return out, err
}

// Init is what Initialize prepared.
type Init struct {
	// RouteLocalnet is whether it set route_localnet.
	RouteLocalnet bool
	// NFAcctCounters is whether kube-proxy's nfacct counters exist, for
	// the iptables rules to count packets in (model.Config.NFAcctCounters);
	// NFAcctErr says why not where making them failed (a kernel without
	// nfnetlink_acct, say): the rules then count nothing, as kube-proxy's.
	NFAcctCounters bool
	NFAcctErr      error
}

// Initialize prepares the node for rules of cfg, as kube-proxy does when
// it starts: it detects the IPv4 backend and, if that is iptables, makes
// kube-proxy's nfacct counters and, where cfg serves localhost NodePorts
// (model.Config.LocalhostNodePortsFor), sets route_localnet. Without it
// the kernel drops their packets once DNAT has sent them off the
// loopback interface.
func (n *Node) Initialize(ctx context.Context, cfg model.Config) (Init, error) {
	mode, err := n.mode(ctx, model.IPv4)
	if err != nil || mode == ModeNFTables {
		return Init{}, err
	}
	var in Init
	in.NFAcctErr = ensureIPTablesCounters(n.NetNS)
	in.NFAcctCounters = in.NFAcctErr == nil
	if !cfg.LocalhostNodePortsFor(model.IPv4) {
		return in, nil
	}
	if n.Sysctls == nil {
		return in, errors.New("localhost NodePorts need route_localnet, and there is no way to set it")
	}
	if in.RouteLocalnet, err = n.Sysctls.Ensure(routeLocalnet, 1); err != nil {
		return in, fmt.Errorf("allowing localhost NodePorts: %w", err)
	}
	return in, nil
}

// TakeOver removes, in both families, the rules of every backend but the
// ones Apply has loaded, and kube-proxy's leftovers: what a node that ran
// kube-proxy, or svcproxy in another mode, still holds. kube-proxy does
// the same when it starts, in both families whichever it serves. Called
// after the first Apply rather than before, it leaves the node never
// without rules for its Services. It reports what it removed, one line
// each.
func (n *Node) TakeOver(ctx context.Context) ([]string, error) {
	n.mu.Lock()
	keep := maps.Clone(n.modes)
	n.mu.Unlock()
	c := &Cleanup{Runner: n.Runner, KubeProxy: true, Keep: keep}
	if l, ok := n.Netlink.(TableLister); ok {
		c.Tables = l
	}
	lines, err := c.Run(ctx)
	if err != nil {
		return lines, fmt.Errorf("removing the rules of other backends and kube-proxy's: %w", err)
	}
	return lines, nil
}

// cleanConntrack deletes the UDP entries m makes stale, after every
// apply, the first after a restart included, as kube-proxy reconciles.
func (n *Node) cleanConntrack(m *model.Model) (int, error) {
	deleted, err := n.Conntrack.ReconcileUDP(m)
	if err != nil {
		return deleted, fmt.Errorf("cleaning up conntrack: %w", err)
	}
	return deleted, nil
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
		n.appliers[family] = newApplier(n.Runner, mode, family, n.Stamps, n.Netlink)
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
// the kernel, by asking each family's applier to look for its canary. It
// is cheap enough to run every few seconds, so rules another program
// flushed are noticed well before the next periodic full sync.
func (n *Node) Intact(ctx context.Context) (bool, error) {
	n.busy.Lock()
	defer n.busy.Unlock()
	n.mu.Lock()
	var appliers []Applier
	for _, fam := range model.Families {
		if n.applied[fam] != nil && n.appliers[fam] != nil {
			appliers = append(appliers, n.appliers[fam])
		}
	}
	n.mu.Unlock()
	for _, a := range appliers {
		ok, err := a.Intact(ctx)
		// A check cut short by ctx proves nothing either way; above all
		// not that the rules are gone.
		if ctxErr := ctx.Err(); ctxErr != nil {
			return false, fmt.Errorf("checking the rules: %w", ctxErr)
		}
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}
