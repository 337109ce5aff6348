package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"time"

	"k8s.io/utils/clock"
)

// Defaults of SyncConfig.
const (
	// DefaultMinSyncPeriod is the default SyncConfig.MinSyncPeriod,
	// kube-proxy's, and so the default of the proxy's flag.
	DefaultMinSyncPeriod = time.Second
	// DefaultSyncPeriod is the default SyncConfig.SyncPeriod,
	// kube-proxy's, and so the default of the proxy's flag.
	DefaultSyncPeriod = 30 * time.Second
	// DefaultFullSyncPeriod is the default SyncConfig.FullSyncPeriod,
	// kube-proxy's.
	DefaultFullSyncPeriod = time.Hour
	// DefaultInitialBackoff is the default SyncConfig.InitialBackoff.
	DefaultInitialBackoff = time.Second
	// DefaultMaxBackoff is the default SyncConfig.MaxBackoff when
	// SyncPeriod is at least as long.
	DefaultMaxBackoff = time.Minute
	// DefaultReadyPollInterval is the default SyncConfig.ReadyPollInterval.
	DefaultReadyPollInterval = 100 * time.Millisecond
)

// SyncConfig configures a SyncLoop. Zero durations take the defaults.
type SyncConfig struct {
	// MinSyncPeriod is the least time between the starts of two syncs;
	// changes arriving in between are coalesced into the next sync.
	MinSyncPeriod time.Duration
	// SyncPeriod is the longest time between two syncs.
	SyncPeriod time.Duration
	// FullSyncPeriod is the longest time between two full syncs, which
	// rebuild everything and so repair whatever the kernel lost without
	// the canary noticing. At 10,000 Services a full sync costs seconds
	// of CPU (15 s with iptables-nft), so the syncs in between are
	// partial, as kube-proxy's are. It defaults to the longer of
	// DefaultFullSyncPeriod and SyncPeriod and may not be shorter than
	// SyncPeriod.
	FullSyncPeriod time.Duration
	// InitialBackoff is the wait before retrying a failed sync; it doubles
	// with each further failure up to MaxBackoff.
	InitialBackoff time.Duration
	// MaxBackoff caps the retry wait. It defaults to the smaller of
	// DefaultMaxBackoff and SyncPeriod and may not exceed SyncPeriod, so a
	// failing proxy retries at least as often as a healthy one resyncs.
	MaxBackoff time.Duration
	// ReadyPollInterval is how often Ready is asked until it says yes.
	ReadyPollInterval time.Duration

	// Sync brings the kernel to the current state. full asks it to rebuild
	// everything rather than what changed since the last success. Required.
	Sync func(ctx context.Context, full bool) error
	// Ready gates the first sync, typically on the informers having synced.
	// Nil means ready at once.
	Ready func() bool
	// Observe, if set, is called after each sync with its outcome, for
	// metrics and logs. It runs on the loop's goroutine.
	Observe func(SyncResult)
	// Clock is the clock the loop reads and waits on; nil means the real one.
	Clock clock.Clock
}

// SyncResult is the outcome of one sync.
type SyncResult struct {
	Full     bool
	Start    time.Time
	Duration time.Duration
	// Err is the error Sync returned.
	Err error
}

// SyncStatus is what health checks and metrics read from a SyncLoop.
type SyncStatus struct {
	// LastSuccess is when the last successful sync started; zero before one.
	LastSuccess time.Time
	// PendingSince is when the oldest change not yet synced arrived, or
	// when the failing sync that left the kernel behind started; zero when
	// the kernel is up to date.
	PendingSince time.Time
	// Successes and Failures count syncs since the loop started.
	Successes, Failures uint64
	// ConsecutiveFailures counts the failures since the last success.
	ConsecutiveFailures int
}

// SyncLoop decides when to sync: on Trigger, at most once per
// MinSyncPeriod; at least every SyncPeriod; fully every FullSyncPeriod;
// with backoff after a failure, the retry being full. It never touches the kernel itself: when its
// context ends it returns, and the rules stay as they are.
type SyncLoop struct {
	cfg   SyncConfig
	clock clock.Clock
	// wake is signalled by Trigger to make the loop look again.
	wake chan struct{}

	mu           gosync.Mutex
	pending      bool
	pendingSince time.Time
	status       SyncStatus

	// parked, if set, is told how long the loop is about to wait; tests use
	// it to know the loop is idle.
	parked func(time.Duration)
}

// NewSyncLoop checks cfg, applies its defaults and returns a SyncLoop.
// Nothing runs until Run.
func NewSyncLoop(cfg SyncConfig) (*SyncLoop, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("configuring sync loop: %w", err)
	}
	return &SyncLoop{cfg: cfg, clock: cfg.Clock, wake: make(chan struct{}, 1)}, nil
}

func (c SyncConfig) withDefaults() (SyncConfig, error) {
	if c.Sync == nil {
		return c, errors.New("the Sync callback is required")
	}
	for _, d := range []time.Duration{c.MinSyncPeriod, c.SyncPeriod, c.FullSyncPeriod, c.InitialBackoff, c.MaxBackoff, c.ReadyPollInterval} {
		if d < 0 {
			return c, fmt.Errorf("negative duration %v", d)
		}
	}
	c.MinSyncPeriod = cmp.Or(c.MinSyncPeriod, DefaultMinSyncPeriod)
	c.SyncPeriod = cmp.Or(c.SyncPeriod, DefaultSyncPeriod)
	c.FullSyncPeriod = cmp.Or(c.FullSyncPeriod, max(DefaultFullSyncPeriod, c.SyncPeriod))
	c.InitialBackoff = cmp.Or(c.InitialBackoff, DefaultInitialBackoff)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, min(DefaultMaxBackoff, c.SyncPeriod))
	c.ReadyPollInterval = cmp.Or(c.ReadyPollInterval, DefaultReadyPollInterval)
	switch {
	case c.SyncPeriod < c.MinSyncPeriod:
		return c, fmt.Errorf("SyncPeriod %v is shorter than MinSyncPeriod %v", c.SyncPeriod, c.MinSyncPeriod)
	case c.FullSyncPeriod < c.SyncPeriod:
		return c, fmt.Errorf("FullSyncPeriod %v is shorter than SyncPeriod %v", c.FullSyncPeriod, c.SyncPeriod)
	case c.MaxBackoff > c.SyncPeriod:
		return c, fmt.Errorf("MaxBackoff %v is longer than SyncPeriod %v", c.MaxBackoff, c.SyncPeriod)
	case c.MaxBackoff < c.InitialBackoff:
		return c, fmt.Errorf("MaxBackoff %v is shorter than InitialBackoff %v", c.MaxBackoff, c.InitialBackoff)
	}
	if c.Ready == nil {
		c.Ready = func() bool { return true }
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	return c, nil
}

// Trigger asks for a sync because something changed. It never blocks, so
// informer handlers may call it.
func (l *SyncLoop) Trigger() {
	l.mu.Lock()
	if !l.pending {
		l.pending = true
		if l.pendingSince.IsZero() {
			l.pendingSince = l.clock.Now()
		}
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Status returns the loop's current status.
func (l *SyncLoop) Status() SyncStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.status
	st.PendingSince = l.pendingSince
	return st
}

// PendingFor returns how long the oldest unsynced change has waited, 0 when
// none waits. A health check fails when it exceeds its timeout.
func (l *SyncLoop) PendingFor() time.Duration {
	since := l.Status().PendingSince
	if since.IsZero() {
		return 0
	}
	return l.clock.Since(since)
}

// Run waits for Ready, then syncs until ctx is done. The first sync is
// full and starts at once; changes that arrived before it are in it.
func (l *SyncLoop) Run(ctx context.Context) {
	if !l.waitReady(ctx) {
		return
	}
	s := schedule{needFull: true}
	for {
		now := l.clock.Now()
		due, full := s.next(now, l.isPending(), l.cfg)
		if due.After(now) {
			if !l.wait(ctx, due.Sub(now)) {
				return
			}
			continue
		}
		l.syncOnce(ctx, &s, full)
		if ctx.Err() != nil {
			return
		}
	}
}

// waitReady polls Ready until it is true or ctx is done, and reports
// whether it became true.
func (l *SyncLoop) waitReady(ctx context.Context) bool {
	for !l.cfg.Ready() {
		if !l.wait(ctx, l.cfg.ReadyPollInterval) {
			return false
		}
	}
	return true
}

// wait waits for d, a Trigger or the end of ctx, and reports whether ctx
// is still live.
func (l *SyncLoop) wait(ctx context.Context, d time.Duration) bool {
	t := l.clock.NewTimer(d)
	defer t.Stop()
	if l.parked != nil {
		l.parked(d)
	}
	select {
	case <-ctx.Done():
		return false
	case <-l.wake:
	case <-t.C():
	}
	return true
}

func (l *SyncLoop) isPending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}

// schedule is the loop's memory of past syncs; only Run's goroutine uses it.
type schedule struct {
	// synced is set once a sync has run, successful or not.
	synced bool
	// lastStart is when the last sync started; lastFull when the last
	// successful full sync did.
	lastStart, lastFull time.Time
	// needFull is set until a full sync succeeds: at the start and after
	// any failure.
	needFull bool
	// retryAt is when to retry a failed sync, zero when not failing.
	retryAt time.Time
	backoff time.Duration
}

// next returns when the next sync is due and whether it is full.
func (s *schedule) next(now time.Time, pending bool, cfg SyncConfig) (time.Time, bool) {
	if !s.synced {
		return now, true
	}
	earliest := s.lastStart.Add(cfg.MinSyncPeriod)
	if !s.retryAt.IsZero() {
		return latest(s.retryAt, earliest), true
	}
	fullAt := s.lastFull.Add(cfg.FullSyncPeriod)
	due := s.lastStart.Add(cfg.SyncPeriod)
	if fullAt.Before(due) {
		due = fullAt
	}
	if pending && earliest.Before(due) {
		due = earliest
	}
	return due, s.needFull || !now.Before(fullAt)
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// syncOnce runs one sync and records its outcome. A sync cut short by the
// end of ctx is not recorded: the loop is stopping.
func (l *SyncLoop) syncOnce(ctx context.Context, s *schedule, full bool) {
	start := l.clock.Now()
	l.mu.Lock()
	since := l.pendingSince
	l.pending, l.pendingSince = false, time.Time{}
	l.mu.Unlock()

	err := l.cfg.Sync(ctx, full)
	end := l.clock.Now()
	if ctx.Err() != nil {
		return
	}
	s.synced, s.lastStart = true, start
	if err == nil {
		s.needFull, s.retryAt, s.backoff = false, time.Time{}, 0
		if full {
			s.lastFull = start
		}
	} else {
		s.needFull = true
		s.backoff = min(max(2*s.backoff, l.cfg.InitialBackoff), l.cfg.MaxBackoff)
		s.retryAt = end.Add(s.backoff)
	}
	l.recordResult(since, start, err)
	if l.cfg.Observe != nil {
		l.cfg.Observe(SyncResult{Full: full, Start: start, Duration: end.Sub(start), Err: err})
	}
}

// recordResult updates the status. After a failure the changes the sync
// carried still wait, and so does the kernel if none did: PendingSince
// goes back to the oldest of them.
func (l *SyncLoop) recordResult(since, start time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.status.Successes++
		l.status.ConsecutiveFailures = 0
		l.status.LastSuccess = start
		return
	}
	l.status.Failures++
	l.status.ConsecutiveFailures++
	if since.IsZero() {
		since = start
	}
	if l.pendingSince.IsZero() || since.Before(l.pendingSince) {
		l.pendingSince = since
	}
}
