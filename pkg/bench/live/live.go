package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// Bench's service range: room for the largest synthetic cluster.
const serviceCIDR = "172.16.0.0/16"

// pollInterval is how often a proxy's metrics are read while waiting.
const pollInterval = 25 * time.Millisecond

// settle is the pause between two changes: longer than both proxies'
// minimum sync period (1 s), so each change gets a sync of its own and is
// not held back by the rate limit after the previous one.
const settle = 1500 * time.Millisecond

// Options say what a live benchmark run measures.
type Options struct {
	// Sizes are the numbers of Services to measure, in order.
	Sizes []int
	// Mix is the cluster shape; its Services field is set from Sizes.
	Mix   bench.Mix
	Modes []sync.Mode
	// Proxies are the proxies to run, in order.
	Proxies []Proxy
	// SvcProxy is the svcproxy executable to run.
	SvcProxy string
	// Changes is how many single-endpoint changes each proxy is timed on.
	Changes int
	// Timeout bounds each proxy's first sync; a proxy that has not
	// finished by then is reported as such and stopped.
	Timeout time.Duration
	// Dir holds the servers' data and every process's log.
	Dir string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Run starts an apiserver per size, writes the cluster to it, and runs
// every proxy in every mode against it, one at a time. Every namespace
// and process it starts is gone when it returns, also on error. On error
// it returns the results measured so far.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	logf := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	bins, err := buildBinaries(ctx, opts, logf)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, size := range opts.Sizes {
		rs, err := runSize(ctx, opts, bins, size, logf)
		results = append(results, rs...)
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// buildBinaries builds etcd, kube-apiserver and, when it is compared,
// kube-proxy from the test/tools module (cached after the first time).
func buildBinaries(ctx context.Context, opts Options, logf kubeapi.Logf) (map[kubeapi.Binary]string, error) {
	want := []kubeapi.Binary{kubeapi.Etcd, kubeapi.APIServer}
	if slices.Contains(opts.Proxies, KubeProxy) {
		want = append(want, kubeapi.KubeProxy)
	}
	bins, err := kubeapi.Build(ctx, logf, want...)
	if err != nil {
		return nil, fmt.Errorf("building the servers from test/tools (run from the svcproxy checkout): %w", err)
	}
	return bins, nil
}

// runSize measures one cluster size on a fresh apiserver.
func runSize(ctx context.Context, opts Options, bins map[kubeapi.Binary]string, size int, logf kubeapi.Logf) (results []Result, err error) {
	dir, err := os.MkdirTemp(opts.Dir, fmt.Sprintf("size-%d-", size))
	if err != nil {
		return nil, fmt.Errorf("creating a work directory: %w", err)
	}
	apiNS, err := netns.Create("svcproxy-bench-api-")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, apiNS.Delete()) }()
	api, err := kubeapi.Start(ctx, apiNS, bins, kubeapi.Options{Dir: dir, ServiceCIDR: serviceCIDR, Logf: logf})
	if api != nil {
		defer func() { err = errors.Join(err, api.Close()) }()
	}
	if err != nil {
		return nil, fmt.Errorf("starting the apiserver (logs in %s): %w", dir, err)
	}
	client, err := fastClient(api.Config)
	if err != nil {
		return nil, err
	}
	mix := opts.Mix
	mix.Services = size
	logf("%d Services: writing the cluster to the apiserver…", size)
	if err := populate(ctx, client, mix, logf); err != nil {
		return nil, err
	}
	generation := 0
	for _, mode := range opts.Modes {
		for _, p := range opts.Proxies {
			l := launch{proxy: p, mode: mode, binary: opts.SvcProxy, dir: dir}
			if p == KubeProxy {
				l.binary = bins[kubeapi.KubeProxy]
			}
			r, err := measure(ctx, api, client, l, mix, opts, &generation, logf)
			results = append(results, r)
			if err != nil {
				return results, fmt.Errorf("%s in %s mode at %d Services (logs in %s): %w", p, mode, size, dir, err)
			}
		}
	}
	return results, nil
}

// fastClient lifts client-go's rate limit, which would otherwise make
// writing 10,000 Services a matter of minutes spent waiting on the client.
func fastClient(cfg *rest.Config) (kubernetes.Interface, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 2000, 4000
	client, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("creating a clientset: %w", err)
	}
	return client, nil
}
