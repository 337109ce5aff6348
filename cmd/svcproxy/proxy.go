package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/svcproxy/svcproxy/pkg/conntrack"
	"github.com/svcproxy/svcproxy/pkg/health"
	"github.com/svcproxy/svcproxy/pkg/metrics"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
	"github.com/svcproxy/svcproxy/pkg/watch"
)

// proxy is a running svcproxy: watcher, sync loop, node rules, health and
// metrics, wired together.
type proxy struct {
	log           *slog.Logger
	builder       *model.Builder
	tracker       *watch.Tracker
	watcher       *watch.Watcher
	loop          *sync.SyncLoop
	node          *sync.Node
	health        *health.Server
	healthPorts   *health.NodePortServers
	metrics       *metrics.Metrics
	metricsServer *metrics.Server
	lastWarnings  string
	// forceFull makes the next sync a full one: set when the canary finds
	// rules missing, which an incremental sync, comparing with what it
	// last loaded, would not put back.
	forceFull atomic.Bool
}

// newProxy builds everything; nothing runs until the Run methods are
// called.
func (o *runOptions) newProxy(log *slog.Logger) (*proxy, error) {
	if _, err := sync.ParseRequest(o.request()); err != nil {
		return nil, fmt.Errorf("--proxy-mode: %w", err)
	}
	cfg, err := o.modelConfig()
	if err != nil {
		return nil, err
	}
	client, err := o.client()
	if err != nil {
		return nil, err
	}
	name, err := o.nodeName()
	if err != nil {
		return nil, err
	}
	p := &proxy{log: log, builder: model.NewBuilder(cfg), tracker: watch.NewTracker(name), metrics: metrics.New()}
	if p.watcher, err = watch.NewWatcher(client, p.tracker, o.syncPeriod); err != nil {
		return nil, err
	}
	r := sync.ExecRunner{}
	p.node = &sync.Node{Runner: r, Detector: &sync.Detector{Runner: r, NoSanityCheck: o.noSanityCheck},
		Request: o.request(), Conntrack: conntrack.NewCleaner("")}
	p.loop, err = sync.NewSyncLoop(sync.SyncConfig{
		MinSyncPeriod: o.minSyncPeriod, SyncPeriod: o.syncPeriod,
		Sync: p.sync, Ready: p.watcher.HasSynced, Observe: p.observe,
	})
	if err != nil {
		return nil, err
	}
	p.tracker.Notify(p.loop.Trigger)
	p.health = health.NewServer(health.Config{BindAddress: o.healthzBindAddress, SyncPeriod: o.syncPeriod}, loopState{p.loop})
	p.healthPorts = health.NewNodePortServers(health.NodePortConfig{Health: p.health})
	p.metricsServer = metrics.NewServer(o.metricsBindAddress, p.metrics)
	return p, nil
}

// sync brings the kernel to the full desired state of the current
// objects, one atomic transaction per family. A partial sync rebuilds
// only the Services that changed and sends only what changed; a full one
// — periodic, after a failure, or for a changed node — rebuilds and
// reloads everything.
func (p *proxy) sync(ctx context.Context, full bool) error {
	input, changes := p.tracker.Snapshot()
	full = p.forceFull.Swap(false) || full || changes.Full
	models, warnings := p.build(input, changes, full)
	p.logWarnings(append(changes.NodeWarnings, warnings...))
	apply := p.node.Update
	if full {
		apply = p.node.Apply
	}
	if err := apply(ctx, models); err != nil {
		return err
	}
	p.metrics.ObserveProgramming(changes.TriggerTimes, time.Now())
	p.recordModels(models)
	p.health.SyncNode(p.tracker.Node())
	if err := p.healthPorts.Sync(models); err != nil {
		p.log.Warn("health check node ports", "err", err)
	}
	return nil
}

// build builds the models, all Services anew on a full sync, else only
// those the changes name.
func (p *proxy) build(input model.Input, changes watch.Changes, full bool) ([]*model.Model, []model.Warning) {
	if full {
		return p.builder.Build(input)
	}
	return p.builder.Update(input, changes.Services.UnsortedList())
}

func (p *proxy) recordModels(models []*model.Model) {
	for _, m := range models {
		p.metrics.SetServicePorts(m.Family, len(m.Services))
		for _, s := range p.node.Stats(m.Family) {
			p.metrics.SetRuleCounts(m.Family, s.Table, metrics.RuleCounts{Rules: s.Rules, Elements: s.Elements, Chains: s.Chains})
		}
	}
}

// observe records one sync in the metrics and the log.
func (p *proxy) observe(r sync.SyncResult) {
	kind := metrics.KindPartial
	if r.Full {
		kind = metrics.KindFull
	}
	p.metrics.ObserveSync(kind, r.Duration, r.Err)
	if r.Err != nil {
		p.log.Error("sync failed; rules left as they were, retrying", "full", r.Full, "err", r.Err)
		return
	}
	p.log.Info("synced", "full", r.Full, "duration", r.Duration.Round(time.Millisecond))
	if r.Full {
		// A full sync allocates several times the state it leaves behind
		// (every rule is rendered afresh), and the runtime would hand
		// that memory back to the OS only over minutes. Returning it now,
		// once the rules are in, keeps the node's RSS near the live state
		// between full syncs, at the cost of one collection per full sync.
		debug.FreeOSMemory()
	}
}

// logWarnings logs skipped objects when the list changes, not on every
// sync.
func (p *proxy) logWarnings(ws []model.Warning) {
	lines := make([]string, len(ws))
	for i, w := range ws {
		lines[i] = w.String()
	}
	slices.Sort(lines)
	joined := strings.Join(lines, "\n")
	if joined == p.lastWarnings {
		return
	}
	p.lastWarnings = joined
	for _, l := range lines {
		p.log.Warn("skipped", "reason", l)
	}
}

// canary checks every canaryPeriod that the rules are still in the
// kernel, and triggers a sync that restores them when they are not.
func (p *proxy) canary(ctx context.Context) {
	t := time.NewTicker(canaryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.health.SyncNode(p.tracker.Node())
		ok, err := p.node.Intact(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			p.log.Warn("checking the rules", "err", err)
		case !ok:
			p.log.Warn("rules were removed by another program; restoring them")
			p.forceFull.Store(true)
			p.loop.Trigger()
		}
	}
}

func (p *proxy) serve(ctx context.Context, what string, run func(context.Context) error) {
	if err := run(ctx); err != nil {
		p.log.Error("server stopped", "server", what, "err", err)
	}
}

// loopState is the sync loop as the health server sees it.
type loopState struct{ loop *sync.SyncLoop }

var _ health.State = loopState{}

func (s loopState) LastSync() time.Time            { return s.loop.Status().LastSuccess }
func (s loopState) OldestPendingChange() time.Time { return s.loop.Status().PendingSince }
