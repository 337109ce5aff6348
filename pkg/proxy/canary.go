package proxy

import (
	"context"
	"time"
)

// canary checks every CanaryPeriod that the rules are still in the
// kernel, and triggers a full sync that restores them when they are not.
func (p *Proxy) canary(ctx context.Context) {
	t := time.NewTicker(CanaryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.checkRules(ctx)
	}
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
