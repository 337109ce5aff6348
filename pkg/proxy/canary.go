package proxy

import (
	"context"
	"time"
)

// canaryShare bounds the time the canary spends reading the rules: after
// a check that took d, the next waits at least d times this. A check
// that reads nothing takes microseconds and waits CanaryPeriod; one that
// reads the rules after another program changed them can take seconds
// (iptables-nft-save of 10,000 Services, 7.1 s), and on a node where
// something changes the ruleset every few seconds it would otherwise
// read back to back and keep a core busy.
const canaryShare = 10

// canary checks that the rules are still in the kernel, every
// CanaryPeriod or, after a costly check, canaryShare times its duration,
// and triggers a full sync that restores them when they are not.
func (p *Proxy) canary(ctx context.Context) {
	wait := CanaryPeriod
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		start := time.Now()
		p.checkRules(ctx)
		wait = canaryWait(time.Since(start))
	}
}

// canaryWait returns how long to wait after a check that took took.
func canaryWait(took time.Duration) time.Duration {
	return max(CanaryPeriod, canaryShare*took)
}

// checkRules runs one canary check.
func (p *Proxy) checkRules(ctx context.Context) {
	ok, err := p.node.Intact(ctx)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		p.log.Warn("checking the rules", "err", err)
	case !ok:
		p.log.Warn("rules were removed by another program; restoring them")
		p.forceFull.Store(true)
		p.loop.Trigger()
	}
}
