package proxy

import (
	"context"
	"errors"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/svcproxy/svcproxy/pkg/metrics"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
	"github.com/svcproxy/svcproxy/pkg/sync"
	"github.com/svcproxy/svcproxy/pkg/watch"
)

// sync brings the kernel to the full desired state of the current
// objects, one atomic transaction per family. A partial sync rebuilds
// only the Services that changed and lets each family send only what
// changed; a full one (periodic, after a failure or a canary alarm, or
// for a changed Node) rebuilds and reloads everything.
func (p *Proxy) sync(ctx context.Context, full bool) error {
	input, changes := p.tracker.Snapshot()
	p.addLocalAddrs(&input)
	full = p.forceFull.Swap(false) || full || changes.Full
	p.ranFull = full
	start := time.Now()
	models := p.build(input, changes, full)
	built := time.Since(start)
	outs, err := p.node.Apply(ctx, models, !full)
	applied := time.Now()
	for i, out := range outs {
		p.record(out, models[i], built)
		if out.Err == nil {
			p.metrics.ObserveProgramming(out.Family, triggerTimes(changes.Triggers, out.Family), applied)
		}
	}
	if err != nil {
		return err
	}
	p.takeOver(ctx)
	if err := p.healthPorts.Sync(models); err != nil {
		p.log.Warn("health check node ports", "err", err)
	}
	return nil
}

// takeOver removes, after the first sync that loaded every family, what
// other backends and kube-proxy left on the node; a failure is retried
// after the next sync.
func (p *Proxy) takeOver(ctx context.Context) {
	if p.tookOver {
		return
	}
	removed, err := p.node.TakeOver(ctx)
	for _, line := range removed {
		p.log.Info("took the node over", "removed", line)
	}
	if err != nil {
		p.log.Warn("taking the node over", "err", err)
		return
	}
	p.tookOver = true
}

// triggerTimes returns the times of the triggers of family.
func triggerTimes(triggers []watch.Trigger, family model.Family) []time.Time {
	var out []time.Time
	for _, t := range triggers {
		if t.Family == family {
			out = append(out, t.Time)
		}
	}
	return out
}

// addLocalAddrs gives the input's node the addresses on its interfaces,
// where --nodeport-addresses needs them; if they cannot be read, the
// Node object's addresses stand in.
func (p *Proxy) addLocalAddrs(input *model.Input) {
	if p.localAddrs == nil {
		return
	}
	addrs, err := p.localAddrs()
	if err != nil {
		p.log.Warn("matching --nodeport-addresses against the Node's addresses instead", "err", err)
		return
	}
	input.Node.LocalIPs = addrs
}

// build builds the models, all Services anew on a full sync, else only
// those the changes name, and logs what it skipped.
func (p *Proxy) build(input model.Input, changes watch.Changes, full bool) []*model.Model {
	if changes.NodeChanged {
		p.nodeWarnings = changes.NodeWarnings
	}
	var models []*model.Model
	var warnings []model.Warning
	if full {
		models, warnings = p.builder.Build(input)
	} else {
		models, warnings = p.builder.Update(input, changes.Objects)
	}
	p.warnings.log(p.log, slices.Concat(p.nodeWarnings, warnings))
	return models
}

// record counts one family's apply in the metrics, logs what it did
// beyond what was asked, and notes whether it loaded in full. The
// family's sync, for kube-proxy's metrics, is the shared build and its
// own apply.
func (p *Proxy) record(out sync.Outcome, m *model.Model, built time.Duration) {
	p.metrics.ObserveFamilySync(metrics.FamilySync{Family: out.Family, Duration: built + out.Duration,
		Incremental: out.Incremental, NFTables: out.Mode == sync.ModeNFTables, Err: out.Err, Counts: out.Counts, Sent: out.Sent})
	if c := out.Conntrack; c != nil {
		p.metrics.ObserveConntrack(out.Family, c.Duration, c.Deleted)
	}
	if out.Err != nil {
		return
	}
	if out.Fallback != nil {
		level := p.log.Warn
		if errors.Is(out.Fallback, render.ErrFullSync) {
			level = p.log.Info
		}
		level("loaded in full instead of incrementally", "family", out.Family, "reason", out.Fallback)
	}
	if out.LoaderFallback != nil {
		p.log.Warn("loaded with nft instead of over netlink", "family", out.Family, "reason", out.LoaderFallback)
	}
	if !out.Incremental {
		p.ranFull = true
	}
	for _, c := range out.Counts {
		p.metrics.SetRuleCounts(out.Family, c)
	}
	p.metrics.SetServicePorts(m.Family, len(m.Services))
	internal, external := noLocalEndpoints(m)
	p.metrics.SetNoLocalEndpoints(m.Family, internal, external)
}

// noLocalEndpoints counts the ports of m whose Local internal or external
// policy finds no local endpoint though the Service has endpoints, which
// kube-proxy counts: their traffic of that kind is dropped.
func noLocalEndpoints(m *model.Model) (internal, external int) {
	for _, sp := range m.Services {
		if !sp.HasEndpoints || len(sp.LocalEndpoints) > 0 {
			continue
		}
		if sp.InternalPolicyLocal {
			internal++
		}
		if sp.ExternalPolicyLocal {
			external++
		}
	}
	return internal, external
}

// observe records one sync in the metrics and the log, under the kind
// of sync that ran: full when any family loaded in full.
func (p *Proxy) observe(r sync.SyncResult) {
	kind := metrics.KindPartial
	if p.ranFull {
		kind = metrics.KindFull
	}
	p.metrics.ObserveSync(kind, r.Duration, r.Err)
	if r.Err != nil {
		p.log.Error("sync failed; rules left as they were, retrying", "full", p.ranFull, "err", r.Err)
		return
	}
	p.log.Info("synced", "full", p.ranFull, "duration", r.Duration.Round(time.Millisecond))
	if p.ranFull {
		// A full sync allocates several times the state it leaves behind
		// (every rule is rendered afresh), and the runtime would hand
		// that memory back to the OS only over minutes. Returning it now,
		// once the rules are in, keeps the node's RSS near the live state
		// between full syncs, at the cost of one collection per full sync.
		debug.FreeOSMemory()
	}
}

// warningLog logs the objects a build skipped when the list changes, not
// on every sync.
type warningLog struct{ last string }

func (w *warningLog) log(log interface{ Warn(string, ...any) }, ws []model.Warning) {
	lines := make([]string, len(ws))
	for i, warning := range ws {
		lines[i] = warning.String()
	}
	slices.Sort(lines)
	joined := strings.Join(lines, "\n")
	if joined == w.last {
		return
	}
	w.last = joined
	for _, l := range lines {
		log.Warn("skipped", "reason", l)
	}
}
