package live

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/pkg/bench"
)

// errNotFinished marks a first sync that did not end within the timeout.
var errNotFinished = errors.New("first sync not finished")

// measure runs one proxy through the scenario: start, first sync, a
// series of single-endpoint changes, memory; and stops it. A proxy that
// does not finish its first sync in time is a result, not an error.
func measure(ctx context.Context, api *kubeapi.Server, client kubernetes.Interface, l launch, mix bench.Mix, opts Options, generation *int, logf kubeapi.Logf) (res Result, err error) {
	res = Result{Services: mix.Services, Endpoints: mix.Endpoints, Proxy: l.proxy, Mode: l.mode}
	logf("%d Services, %s, %s: starting…", mix.Services, l.proxy, l.mode)
	r, err := start(api, l)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, r.stop()) }()

	started := time.Now()
	answered := r.probeFirstSync(ctx, client, mix.Services-1, started.Add(opts.Timeout))
	first, err := r.waitForFirstSync(ctx, opts.Timeout)
	if errors.Is(err, errNotFinished) {
		<-answered
		res.NotFinished = opts.Timeout
		logf("%d Services, %s, %s: first sync not finished after %v", mix.Services, l.proxy, l.mode, opts.Timeout)
		res.RSS, res.PeakRSS, res.TreePeak, err = r.memory()
		return res, err
	}
	if err != nil {
		return res, err
	}
	res.FirstSync, res.Ready = first, time.Since(started)
	a := <-answered
	if a.err != nil {
		return res, fmt.Errorf("the last Service after the first sync: %w", a.err)
	}
	res.FirstAnswered = a.at.Sub(started)
	logf("%d Services, %s, %s: first sync %v; timing %d endpoint changes…", mix.Services, l.proxy, l.mode, first.Round(time.Millisecond), opts.Changes)
	for i := range opts.Changes {
		*generation++
		// Spread the changed Services over the cluster, away from its
		// ends, so no proxy is favoured by where a Service sorts.
		svc := (2*i + 1) * mix.Services / (2 * opts.Changes)
		c, err := r.timeChange(ctx, client, svc, *generation)
		if err != nil {
			return res, err
		}
		res.Changes = append(res.Changes, c.metric)
		res.ChangesSeen = append(res.ChangesSeen, c.seen)
		if c.committed > 0 {
			res.ChangesCommitted = append(res.ChangesCommitted, c.committed)
		}
	}
	res.RSS, res.PeakRSS, res.TreePeak, err = r.memory()
	return res, err
}

// answered is when a probe was answered, or why it never was.
type answered struct {
	at  time.Time
	err error
}

// probeFirstSync probes Service svc's cluster IP from the proxy's start
// until any endpoint answers, or deadline.
func (r *running) probeFirstSync(ctx context.Context, client kubernetes.Interface, svc int, deadline time.Time) <-chan answered {
	ch := make(chan answered, 1)
	go func() {
		dst, err := clusterIP(ctx, client, svc)
		if err != nil {
			ch <- answered{err: err}
			return
		}
		at, err := r.answer.waitAnswered(ctx, dst, anyEndpoint, deadline)
		ch <- answered{at: at, err: err}
	}()
	return ch
}

// waitForFirstSync waits until the proxy reports its first sync and
// returns that sync's duration.
func (r *running) waitForFirstSync(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		if r.exited() {
			return 0, fmt.Errorf("%s exited; see %s", r.proxy, r.log)
		}
		syncs, _, err := r.scrape(ctx)
		if err == nil && syncs.count > 0 {
			return seconds(syncs.sum / float64(syncs.count)), nil
		}
		if time.Now().After(deadline) {
			return 0, errNotFinished
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return 0, err
		}
	}
}

// change is what one endpoint change took: by the proxy's network
// programming latency metric; from the write until a connection to the
// Service's cluster IP was answered by the new endpoint; and, where the
// kernel keeps a generation, from the write until it changed.
type change struct{ metric, seen, committed time.Duration }

// timeChange changes one endpoint and times it three ways (change). It
// first waits out the minimum sync period, then probes, then waits for
// the proxy to count the change.
func (r *running) timeChange(ctx context.Context, client kubernetes.Interface, svc, generation int) (change, error) {
	if err := sleep(ctx, settle); err != nil {
		return change{}, err
	}
	dst, err := clusterIP(ctx, client, svc)
	if err != nil {
		return change{}, err
	}
	_, before, err := r.scrape(ctx)
	if err != nil {
		return change{}, err
	}
	gen, err := r.generation()
	if err != nil {
		return change{}, fmt.Errorf("%s: the nftables generation: %w", r.proxy, err)
	}
	written, err := changeEndpoint(ctx, client, svc, generation)
	if err != nil {
		return change{}, err
	}
	committed := r.waitCommitted(ctx, gen, written.Add(time.Minute))
	moved := changedAddress(generation)
	at, err := r.answer.waitAnswered(ctx, dst, func(a netip.Addr) bool { return a == moved }, written.Add(time.Minute))
	if err != nil {
		return change{}, fmt.Errorf("%s: the moved endpoint: %w", r.proxy, err)
	}
	c := <-committed
	if c.err != nil {
		return change{}, fmt.Errorf("%s: the change's commit: %w", r.proxy, c.err)
	}
	metric, err := r.waitProgrammed(ctx, before, written.Add(time.Minute))
	out := change{metric: metric, seen: at.Sub(written)}
	if !c.at.IsZero() {
		out.committed = c.at.Sub(written)
	}
	return out, err
}

// generation returns the nftables generation in the proxy's namespace,
// "" where the mode has none to read.
func (r *running) generation() (string, error) {
	if r.stamps == nil {
		return "", nil
	}
	return r.stamps.Generation()
}

// commitPollInterval is how often the rules' stamp is read after a
// write: one netlink request or getsockopt, light beside the proxy.
const commitPollInterval = 200 * time.Microsecond

// waitCommitted reads the nftables generation until it is no longer
// before, and sends when that was seen: the kernel's own word that a
// transaction committed, free of the random choice of endpoint a probe
// waits on. Where there is no generation it sends a zero time at once.
func (r *running) waitCommitted(ctx context.Context, before string, deadline time.Time) <-chan answered {
	ch := make(chan answered, 1)
	if r.stamps == nil {
		ch <- answered{}
		return ch
	}
	go func() {
		for {
			now, err := r.stamps.Generation()
			if err == nil && now != before {
				ch <- answered{at: time.Now()}
				return
			}
			if err == nil && time.Now().After(deadline) {
				err = errors.New("the rules did not change within a minute")
			}
			if err == nil {
				err = sleep(ctx, commitPollInterval)
			}
			if err != nil {
				ch <- answered{err: err}
				return
			}
		}
	}()
	return ch
}

// waitProgrammed waits for the proxy to count one more network
// programming than before, and returns that one's latency.
func (r *running) waitProgrammed(ctx context.Context, before histogram, deadline time.Time) (time.Duration, error) {
	for {
		_, after, err := r.scrape(ctx)
		if err == nil && after.count > before.count {
			return seconds((after.sum - before.sum) / float64(after.count-before.count)), nil
		}
		if r.exited() {
			return 0, fmt.Errorf("%s exited; see %s", r.proxy, r.log)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s reported no network programming for an endpoint change within a minute", r.proxy)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return 0, err
		}
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// sleep waits for d or the end of ctx.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("benchmark cancelled: %w", ctx.Err())
	case <-time.After(d):
		return nil
	}
}

// clusterIP returns Service i's cluster IP and port, as the apiserver
// allocated it.
func clusterIP(ctx context.Context, c kubernetes.Interface, i int) (netip.AddrPort, error) {
	name := fmt.Sprintf("svc-%05d", i)
	svc, err := c.CoreV1().Services(bench.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getting Service %s: %w", name, err)
	}
	a, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || len(svc.Spec.Ports) == 0 {
		return netip.AddrPort{}, fmt.Errorf("service %s has no usable cluster IP (%q)", name, svc.Spec.ClusterIP)
	}
	return netip.AddrPortFrom(a, uint16(svc.Spec.Ports[0].Port)), nil
}
