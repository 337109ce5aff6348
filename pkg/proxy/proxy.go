// Package proxy is svcproxy run's pipeline: the watcher's snapshot of
// Services, EndpointSlices and the Node becomes per-family models, the
// node's appliers load them, and the results feed metrics, health checks
// and the conntrack cleanup; a canary puts back rules another program
// removed. It runs no command itself: the kernel is reached through the
// sync.Node it is given, so tests drive it with a fake runner.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	stdsync "sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/pkg/health"
	"github.com/svcproxy/svcproxy/pkg/metrics"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
	"github.com/svcproxy/svcproxy/pkg/sync"
	"github.com/svcproxy/svcproxy/pkg/watch"
)

// CanaryPeriod is how often a Proxy checks that its rules are still in the
// kernel, so rules flushed by another program are restored within
// seconds rather than at the next full sync.
const CanaryPeriod = 5 * time.Second

// Config is what a Proxy is made of.
type Config struct {
	// Log receives the sync log; required.
	Log *slog.Logger
	// Client reaches the API server; required.
	Client kubernetes.Interface
	// NodeName is this node's name; required.
	NodeName string
	// Model is the proxy configuration models are built with.
	Model model.Config
	// Node brings the kernel to the models; required.
	Node *sync.Node
	// MinSyncPeriod and SyncPeriod schedule syncs (sync.SyncConfig).
	MinSyncPeriod, SyncPeriod time.Duration
	// ConfigSyncPeriod is how often the informers deliver their cached
	// objects again (kube-proxy's --config-sync-period); 0 never.
	ConfigSyncPeriod time.Duration
	// HealthzBindAddress and MetricsBindAddress are where /healthz and
	// /metrics are served; "" serves neither.
	HealthzBindAddress, MetricsBindAddress string
	// Profiling serves Go's profiles beside /metrics (--profiling).
	Profiling bool
	// LocalAddrs lists the addresses on the node's interfaces, read at
	// every sync where Model.NodePortAddresses has CIDRs to match them
	// against; nil is sync.LocalAddrs.
	LocalAddrs func() ([]netip.Addr, error)
}

// Proxy is a running svcproxy: watcher, sync loop, node rules, health and
// metrics, wired together.
type Proxy struct {
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

	// The fields below are the pipeline's: sync and observe run on the
	// loop's goroutine only.
	warnings warningLog
	// localAddrs reads the node's interface addresses; nil when nothing
	// needs them.
	localAddrs func() ([]netip.Addr, error)
	// nodeWarnings are the problems of the Node as last read: the
	// tracker reports them only with a Node change, and they still hold
	// until the next one.
	nodeWarnings []model.Warning
	// ranFull is whether the last sync loaded any family in full, for
	// the sync metrics' kind.
	ranFull bool
	// tookOver is whether the node's takeover (sync.Node.TakeOver) is
	// done.
	tookOver bool

	// forceFull makes the next sync a full one: set when the canary finds
	// rules missing, which an incremental sync, comparing with what it
	// last loaded, would not put back.
	forceFull atomic.Bool
}

// New builds a Proxy; nothing runs until Run.
func New(cfg Config) (*Proxy, error) {
	if cfg.Log == nil || cfg.Client == nil || cfg.Node == nil || cfg.NodeName == "" {
		return nil, errors.New("proxy: Log, Client, Node and NodeName are required")
	}
	p := &Proxy{
		log:     cfg.Log,
		builder: model.NewBuilder(cfg.Model),
		tracker: watch.NewTracker(cfg.NodeName),
		node:    cfg.Node,
		metrics: metrics.New(),
	}
	if len(cfg.Model.NodePortAddresses) > 0 {
		p.localAddrs = cfg.LocalAddrs
		if p.localAddrs == nil {
			p.localAddrs = sync.LocalAddrs
		}
	}
	var err error
	if p.watcher, err = watch.NewWatcher(cfg.Client, p.tracker, cfg.ConfigSyncPeriod); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p.loop, err = sync.NewSyncLoop(sync.SyncConfig{
		MinSyncPeriod: cfg.MinSyncPeriod, SyncPeriod: cfg.SyncPeriod,
		Sync: p.sync, Ready: p.watcher.HasSynced, Observe: p.observe,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p.tracker.Notify(func() {
		p.metrics.ObserveQueued()
		p.loop.Trigger()
	})
	p.metrics.WatchChanges(p.tracker)
	if cfg.Model.NFAcctCounters {
		count := func(name string) metrics.PacketCounter {
			return func() (uint64, error) { return sync.NFAcctPackets(cfg.Node.NetNS, name) }
		}
		p.metrics.CountPackets(count(iptables.NFAcctInvalidDropped), count(iptables.NFAcctLocalhostAccepted))
	}
	p.health = health.NewServer(health.Config{BindAddress: cfg.HealthzBindAddress, SyncPeriod: cfg.SyncPeriod,
		Observe: p.metrics.ObserveHealthCheck}, loopState{p.loop})
	// The health check follows the Node as its events arrive: a taint
	// for removal must fail /healthz at once, not at the next sync.
	p.tracker.NotifyNode(p.health.SyncNode)
	p.healthPorts = health.NewNodePortServers(health.NodePortConfig{Health: p.health,
		Style: func(f model.Family) model.NodePortStyle {
			if p.node.Mode(f) == sync.ModeNFTables {
				return nftables.NodePortStyle
			}
			return iptables.NodePortStyle
		}})
	p.metricsServer = metrics.NewServer(cfg.MetricsBindAddress, p.metrics)
	p.metricsServer.Profiling = cfg.Profiling
	return p, nil
}

// NodeName is the node the proxy programs.
func (p *Proxy) NodeName() string { return p.tracker.NodeName() }

// Run runs the watcher, the sync loop, the canary and the health and
// metrics servers until ctx is done. Rules are left in place.
func (p *Proxy) Run(ctx context.Context) {
	var wg stdsync.WaitGroup
	for _, f := range []func(context.Context){
		p.watcher.Run, p.loop.Run, p.canary,
		func(ctx context.Context) { p.serve(ctx, "health", p.health.Run) },
		func(ctx context.Context) { p.serve(ctx, "metrics", p.metricsServer.Run) },
	} {
		wg.Go(func() { f(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	p.healthPorts.Close()
}

func (p *Proxy) serve(ctx context.Context, what string, run func(context.Context) error) {
	if err := run(ctx); err != nil {
		p.log.Error("server stopped", "server", what, "err", err)
	}
}

// loopState is the sync loop as the health server sees it.
type loopState struct{ loop *sync.SyncLoop }

var _ health.State = loopState{}

func (s loopState) LastSync() time.Time            { return s.loop.Status().LastSuccess }
func (s loopState) OldestPendingChange() time.Time { return s.loop.Status().PendingSince }
