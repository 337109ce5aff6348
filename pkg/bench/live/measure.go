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
		d, seen, err := r.timeChange(ctx, client, svc, *generation)
		if err != nil {
			return res, err
		}
		res.Changes = append(res.Changes, d)
		res.ChangesSeen = append(res.ChangesSeen, seen)
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

// timeChange changes one endpoint and returns the network programming
// latency the proxy reports for it, and the time from the write until a
// connection to the Service's cluster IP was answered by the new
// endpoint. It first waits out the minimum sync period, then probes,
// then waits for the proxy to count the change.
func (r *running) timeChange(ctx context.Context, client kubernetes.Interface, svc, generation int) (metric, seen time.Duration, err error) {
	if err := sleep(ctx, settle); err != nil {
		return 0, 0, err
	}
	dst, err := clusterIP(ctx, client, svc)
	if err != nil {
		return 0, 0, err
	}
	_, before, err := r.scrape(ctx)
	if err != nil {
		return 0, 0, err
	}
	written, err := changeEndpoint(ctx, client, svc, generation)
	if err != nil {
		return 0, 0, err
	}
	moved := changedAddress(generation)
	at, err := r.answer.waitAnswered(ctx, dst, func(a netip.Addr) bool { return a == moved }, written.Add(time.Minute))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: the moved endpoint: %w", r.proxy, err)
	}
	metric, err = r.waitProgrammed(ctx, before, written.Add(time.Minute))
	return metric, at.Sub(written), err
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
