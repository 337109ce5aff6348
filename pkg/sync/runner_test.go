package sync

import (
	"context"
	"errors"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"
)

// loopWaitTimeout bounds, in real time, how long a test waits for the loop
// to act; it is generous and never part of what a test asserts.
const loopWaitTimeout = 10 * time.Second

var errSync = errors.New("sync failed")

// loopHarness runs a SyncLoop on a fake clock. The loop reports each wait
// it parks in, so the harness knows when the loop is idle and what it
// waits for; between two parks it records the syncs that ran.
type loopHarness struct {
	t     *testing.T
	clock *testingclock.FakeClock
	loop  *SyncLoop
	parks chan time.Duration
	// lastWait is the wait the loop last parked in.
	lastWait time.Duration
	cancel   context.CancelFunc
	done     chan struct{}

	mu    gosync.Mutex
	ready bool
	// fail holds the indexes of the syncs that fail.
	fail  map[int]bool
	syncs []bool
	calls int
}

func newLoopHarness(t *testing.T, cfg SyncConfig, ready bool, fail map[int]bool) *loopHarness {
	t.Helper()
	h := &loopHarness{
		t: t, clock: testingclock.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		parks: make(chan time.Duration), done: make(chan struct{}), ready: ready, fail: fail,
	}
	cfg.Clock = h.clock
	cfg.Ready = h.isReady
	cfg.Sync = h.sync
	loop, err := NewSyncLoop(cfg)
	if err != nil {
		t.Fatalf("NewSyncLoop: %v", err)
	}
	h.loop = loop
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	loop.parked = func(d time.Duration) {
		select {
		case h.parks <- d:
		case <-ctx.Done():
		}
	}
	go func() {
		defer close(h.done)
		loop.Run(ctx)
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *loopHarness) isReady() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready
}

func (h *loopHarness) sync(_ context.Context, full bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.syncs = append(h.syncs, full)
	h.calls++
	if h.fail[h.calls-1] {
		return errSync
	}
	return nil
}

// expect waits for the loop to park and checks the wait and the syncs
// (their full flags) that ran since the last park.
func (h *loopHarness) expect(wantWait time.Duration, wantSyncs []bool) {
	h.t.Helper()
	select {
	case h.lastWait = <-h.parks:
	case <-time.After(loopWaitTimeout):
		h.t.Fatalf("loop did not park; want a wait of %v", wantWait)
	}
	h.mu.Lock()
	got := h.syncs
	h.syncs = nil
	h.mu.Unlock()
	if h.lastWait != wantWait {
		h.t.Errorf("loop waits %v, want %v", h.lastWait, wantWait)
	}
	if diff := cmp.Diff(wantSyncs, got); diff != "" {
		h.t.Errorf("syncs (full flags) (-want +got):\n%s", diff)
	}
}

func (h *loopHarness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(loopWaitTimeout):
		h.t.Error("Run did not return after its context ended")
	}
}

// loopAction acts on the harness; it reports whether the loop wakes up.
type loopAction func(h *loopHarness) (wakes bool)

var (
	// start does nothing: the loop is already running.
	start loopAction = func(*loopHarness) bool { return true }
	// trigger signals a change.
	trigger loopAction = func(h *loopHarness) bool { h.loop.Trigger(); return true }
	// advance moves the clock to the end of the loop's wait.
	advance loopAction = func(h *loopHarness) bool { h.clock.Step(h.lastWait); return true }
	// becomeReady makes Ready true, then advances to the next poll.
	becomeReady loopAction = func(h *loopHarness) bool {
		h.mu.Lock()
		h.ready = true
		h.mu.Unlock()
		return advance(h)
	}
)

// elapse moves the clock by less than the loop's wait: it does not wake.
func elapse(d time.Duration) loopAction {
	return func(h *loopHarness) bool { h.clock.Step(d); return false }
}

type loopStep struct {
	do loopAction
	// wantWait is the wait the loop parks in afterwards, if it wakes.
	wantWait time.Duration
	// wantSyncs are the full flags of the syncs run in between.
	wantSyncs []bool
}

// syncLoopCase runs a SyncLoop through steps and checks its final status.
type syncLoopCase struct {
	name     string
	cfg      SyncConfig
	notReady bool
	// fail holds the indexes of the syncs that fail.
	fail  map[int]bool
	steps []loopStep
	// want is the final status, times left out.
	want SyncStatus
}

func syncLoopCases() []syncLoopCase {
	const full, partial = true, false
	poll := DefaultReadyPollInterval
	return []syncLoopCase{{
		name:     "no sync before ready",
		notReady: true,
		steps: []loopStep{
			{do: start, wantWait: poll},
			{do: advance, wantWait: poll},
			{do: trigger, wantWait: poll},
			{do: becomeReady, wantWait: 30 * time.Second, wantSyncs: []bool{full}},
		},
		want: SyncStatus{Successes: 1},
	}, {
		name: "triggers within the min sync period are coalesced",
		steps: []loopStep{
			{do: start, wantWait: 30 * time.Second, wantSyncs: []bool{full}},
			{do: trigger, wantWait: time.Second},
			{do: elapse(500 * time.Millisecond)},
			{do: trigger, wantWait: 500 * time.Millisecond},
			{do: advance, wantWait: 30 * time.Second, wantSyncs: []bool{partial}},
			{do: elapse(5 * time.Second)},
			{do: trigger, wantWait: 30 * time.Second, wantSyncs: []bool{partial}},
		},
		want: SyncStatus{Successes: 3},
	}, {
		name: "periodic syncs are partial but every full sync period",
		cfg:  SyncConfig{SyncPeriod: 10 * time.Second, FullSyncPeriod: 25 * time.Second},
		steps: []loopStep{
			{do: start, wantWait: 10 * time.Second, wantSyncs: []bool{full}},
			{do: advance, wantWait: 10 * time.Second, wantSyncs: []bool{partial}},
			{do: elapse(9 * time.Second)},
			{do: trigger, wantWait: 6 * time.Second, wantSyncs: []bool{partial}},
			{do: advance, wantWait: 10 * time.Second, wantSyncs: []bool{full}},
		},
		want: SyncStatus{Successes: 4},
	}, {
		name: "failures are retried with backoff and the retry is full",
		fail: map[int]bool{1: true, 2: true, 3: true},
		steps: []loopStep{
			{do: start, wantWait: 30 * time.Second, wantSyncs: []bool{full}},
			{do: trigger, wantWait: time.Second},
			{do: advance, wantWait: time.Second, wantSyncs: []bool{partial}},
			{do: trigger, wantWait: time.Second},
			{do: advance, wantWait: 2 * time.Second, wantSyncs: []bool{full}},
			{do: advance, wantWait: 4 * time.Second, wantSyncs: []bool{full}},
			{do: advance, wantWait: 30 * time.Second, wantSyncs: []bool{full}},
		},
		want: SyncStatus{Successes: 2, Failures: 3},
	}, {
		name: "backoff is capped",
		cfg:  SyncConfig{MaxBackoff: 2 * time.Second},
		fail: map[int]bool{0: true, 1: true, 2: true},
		steps: []loopStep{
			{do: start, wantWait: time.Second, wantSyncs: []bool{full}},
			{do: advance, wantWait: 2 * time.Second, wantSyncs: []bool{full}},
			{do: advance, wantWait: 2 * time.Second, wantSyncs: []bool{full}},
			{do: advance, wantWait: 30 * time.Second, wantSyncs: []bool{full}},
		},
		want: SyncStatus{Successes: 1, Failures: 3},
	}}
}

func TestSyncLoop(t *testing.T) {
	for _, tt := range syncLoopCases() {
		t.Run(tt.name, func(t *testing.T) {
			h := newLoopHarness(t, tt.cfg, !tt.notReady, tt.fail)
			for _, st := range tt.steps {
				if st.do(h) {
					h.expect(st.wantWait, st.wantSyncs)
				}
			}
			got := h.loop.Status()
			got.LastSuccess, got.PendingSince = time.Time{}, time.Time{}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncLoopPendingFor(t *testing.T) {
	h := newLoopHarness(t, SyncConfig{}, false, map[int]bool{1: true, 2: true})
	check := func(want time.Duration) {
		t.Helper()
		if got := h.loop.PendingFor(); got != want {
			t.Errorf("PendingFor() = %v, want %v", got, want)
		}
	}
	h.expect(DefaultReadyPollInterval, nil)
	check(0)
	trigger(h)
	h.expect(DefaultReadyPollInterval, nil)
	h.clock.Step(5 * time.Second)
	check(5 * time.Second) // changes wait while the informers sync

	becomeReady(h)
	h.expect(DefaultSyncPeriod, []bool{true})
	check(0)
	if got, want := h.loop.Status().LastSuccess, h.clock.Now(); !got.Equal(want) {
		t.Errorf("LastSuccess = %v, want %v", got, want)
	}

	trigger(h)
	h.expect(time.Second, nil)
	advance(h)
	h.expect(time.Second, []bool{false}) // fails
	check(time.Second)
	advance(h)
	h.expect(2*time.Second, []bool{true}) // fails again
	check(2 * time.Second)
	advance(h)
	h.expect(DefaultSyncPeriod, []bool{true})
	check(0)
}

func TestSyncLoopStops(t *testing.T) {
	tests := []struct {
		name string
		// inSync cancels the context while a sync runs.
		inSync bool
	}{
		{name: "while waiting"},
		{name: "while syncing", inSync: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			loop, err := NewSyncLoop(SyncConfig{
				Clock: testingclock.NewFakeClock(time.Now()),
				Sync: func(ctx context.Context, _ bool) error {
					calls++
					if !tt.inSync {
						return nil
					}
					cancel()
					<-ctx.Done()
					return ctx.Err()
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			parked := make(chan struct{}, 1)
			loop.parked = func(time.Duration) {
				select {
				case parked <- struct{}{}:
				default:
				}
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				loop.Run(ctx)
			}()
			if !tt.inSync {
				<-parked
				cancel()
			}
			select {
			case <-done:
			case <-time.After(loopWaitTimeout):
				t.Fatal("Run did not return after its context ended")
			}
			if st := loop.Status(); calls != 1 || st.Failures != 0 {
				t.Errorf("after stopping: %d syncs, status %+v; want 1 sync and no failure", calls, st)
			}
		})
	}
}

func TestNewSyncLoopConfig(t *testing.T) {
	noop := func(context.Context, bool) error { return nil }
	tests := []struct {
		name    string
		cfg     SyncConfig
		wantErr bool
		// wantMaxBackoff and wantFull are checked when there is no error.
		wantMaxBackoff, wantFull time.Duration
	}{
		{name: "defaults", cfg: SyncConfig{Sync: noop}, wantMaxBackoff: DefaultSyncPeriod, wantFull: DefaultFullSyncPeriod},
		{name: "long sync period", cfg: SyncConfig{Sync: noop, SyncPeriod: 2 * time.Hour},
			wantMaxBackoff: DefaultMaxBackoff, wantFull: 2 * time.Hour},
		{name: "full sync period below sync period", cfg: SyncConfig{Sync: noop, FullSyncPeriod: 10 * time.Second}, wantErr: true},
		{name: "no sync", cfg: SyncConfig{}, wantErr: true},
		{name: "negative", cfg: SyncConfig{Sync: noop, MinSyncPeriod: -time.Second}, wantErr: true},
		{name: "sync period below min", cfg: SyncConfig{Sync: noop, MinSyncPeriod: time.Minute}, wantErr: true},
		{name: "backoff above sync period", cfg: SyncConfig{Sync: noop, MaxBackoff: time.Hour}, wantErr: true},
		{name: "backoff cap below start", cfg: SyncConfig{Sync: noop, InitialBackoff: 5 * time.Second, MaxBackoff: time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loop, err := NewSyncLoop(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewSyncLoop() error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (loop.cfg.MaxBackoff != tt.wantMaxBackoff || loop.cfg.FullSyncPeriod != tt.wantFull) {
				t.Errorf("MaxBackoff, FullSyncPeriod = %v, %v, want %v, %v",
					loop.cfg.MaxBackoff, loop.cfg.FullSyncPeriod, tt.wantMaxBackoff, tt.wantFull)
			}
		})
	}
}
