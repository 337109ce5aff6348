package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// Proxy names a proxy implementation under test.
type Proxy string

// The proxies the benchmark runs.
const (
	SvcProxy  Proxy = "svcproxy"
	KubeProxy Proxy = "kube-proxy"
)

// metricsAddress is where both proxies serve /metrics, on the loopback of
// their own namespace.
const metricsAddress = "127.0.0.1:10249"

// stopGrace is how long a proxy gets to exit after SIGTERM.
const stopGrace = 10 * time.Second

// The metric names each proxy reports the figures under.
type metricNames struct {
	sync, programming string
}

var metricsOf = map[Proxy]metricNames{
	SvcProxy:  {"svcproxy_sync_duration_seconds", "svcproxy_network_programming_duration_seconds"},
	KubeProxy: {"kubeproxy_sync_proxy_rules_duration_seconds", "kubeproxy_network_programming_duration_seconds"},
}

// running is one proxy process in a network namespace of its own,
// reaching the apiserver through a forwarder.
type running struct {
	proxy   Proxy
	ns      *netns.NS
	fwd     io.Closer
	cmd     *exec.Cmd
	done    chan struct{}
	log     string
	metrics *http.Client
	names   metricNames
	// answer answers for the endpoints and probes from inside ns;
	// tree samples the memory of the proxy and the tools it runs.
	answer *answerer
	tree   *treeMemory
	// stamps reads the nftables generation in ns, which every
	// transaction bumps, in nftables and iptables-nft mode. Nothing
	// stands in for it in iptables-legacy mode: x_tables keeps no
	// generation, and its table summaries do not change when a rule is
	// replaced by one of the same size, as an endpoint change does.
	stamps *sync.KernelStamps
}

// launch describes how to start one proxy in one mode.
type launch struct {
	proxy Proxy
	mode  sync.Mode
	// binary is the svcproxy or kube-proxy executable.
	binary string
	// dir holds the proxy's log and, for kube-proxy, the directory that
	// puts the wanted iptables variant first on PATH.
	dir string
}

// start creates a namespace, forwards the apiserver into it, and starts
// the proxy there. On error everything it made is undone.
func start(api *kubeapi.Server, l launch) (_ *running, err error) {
	ns, err := netns.Create("svcproxy-bench-")
	if err != nil {
		return nil, err
	}
	r := &running{proxy: l.proxy, ns: ns, names: metricsOf[l.proxy], done: make(chan struct{}),
		stamps: &sync.KernelStamps{NetNS: "/run/netns/" + ns.Name}}
	if l.mode == sync.ModeIPTablesLegacy {
		r.stamps = nil
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.stop())
		}
	}()
	if r.fwd, err = api.Forward(ns); err != nil {
		return r, err
	}
	if r.answer, err = newAnswerer(ns); err != nil {
		return r, err
	}
	dial, err := kubeapi.Dialer(ns)
	if err != nil {
		return r, err
	}
	r.metrics = &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: 5 * time.Second}
	argv, env, err := command(api, l)
	if err != nil {
		return r, err
	}
	return r, r.run(ns, argv, env, filepath.Join(l.dir, fmt.Sprintf("%s-%s.log", l.proxy, l.mode)))
}

// run starts argv in the namespace with its output in logPath.
func (r *running) run(ns *netns.NS, argv, env []string, logPath string) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("creating %s: %w", logPath, err)
	}
	defer logFile.Close()
	prefix := ns.Prefix()
	r.cmd = exec.Command(prefix[0], append(prefix[1:], argv...)...)
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	// If the benchmark dies, the proxy dies with it rather than syncing
	// into a namespace nobody deletes.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", r.proxy, err)
	}
	r.log = logPath
	r.tree = sampleTree(r.cmd.Process.Pid)
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	return nil
}

// command returns the proxy's command line and environment. Both proxies
// get the same sync periods (kube-proxy's defaults), node and cluster
// CIDR.
func command(api *kubeapi.Server, l launch) (argv, env []string, err error) {
	common := []string{
		"--kubeconfig", api.Kubeconfig, "--hostname-override", bench.NodeName,
		"--cluster-cidr", "10.0.0.0/8", "--metrics-bind-address", metricsAddress,
		"--healthz-bind-address", "127.0.0.1:10256",
		"--iptables-min-sync-period", "1s", "--iptables-sync-period", "30s",
		// The node is a network namespace: conntrack's table size is
		// the host's, which neither proxy may set from there.
		"--conntrack-max-per-core", "0",
	}
	env = os.Environ()
	if l.proxy == SvcProxy {
		return append(append([]string{l.binary, "run"}, common...), "--proxy-mode", string(l.mode)), env, nil
	}
	proxyMode := "nftables"
	if l.mode != sync.ModeNFTables {
		proxyMode = "iptables"
		path, err := iptablesPath(l.dir, l.mode)
		if err != nil {
			return nil, nil, err
		}
		env = append(env, "PATH="+path+":"+os.Getenv("PATH"))
	}
	return append(append([]string{l.binary}, common...), "--proxy-mode", proxyMode), env, nil
}

// iptablesPath makes a directory whose iptables commands are those of the
// variant mode names, for putting first on kube-proxy's PATH: kube-proxy
// runs whatever "iptables" is, where its container image would pick the
// variant with a wrapper script.
func iptablesPath(dir string, mode sync.Mode) (string, error) {
	variant := strings.TrimPrefix(string(mode), "iptables-")
	bin := filepath.Join(dir, "iptables-"+variant)
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", bin, err)
	}
	for _, family := range []string{"iptables", "ip6tables"} {
		for _, suffix := range []string{"", "-save", "-restore"} {
			target, err := exec.LookPath(family + "-" + variant + suffix)
			if err != nil {
				return "", fmt.Errorf("finding %s-%s%s: %w", family, variant, suffix, err)
			}
			link := filepath.Join(bin, family+suffix)
			_ = os.Remove(link)
			if err := os.Symlink(target, link); err != nil {
				return "", fmt.Errorf("linking %s: %w", link, err)
			}
		}
	}
	return bin, nil
}

// exited reports whether the proxy has exited.
func (r *running) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// stop ends the proxy (SIGTERM, then SIGKILL), the forwarder and the
// namespace, with every rule the proxy made.
func (r *running) stop() error {
	var errs []error
	if r.cmd != nil && r.cmd.Process != nil && !r.exited() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(stopGrace):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	}
	if r.fwd != nil {
		if err := r.fwd.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the apiserver forwarder: %w", err))
		}
	}
	if r.metrics != nil {
		r.metrics.CloseIdleConnections()
	}
	if r.answer != nil {
		r.answer.Close()
	}
	if r.stamps != nil {
		r.stamps.Close()
	}
	if err := r.ns.Delete(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// memory reads the proxy's current and peak RSS in bytes, and the
// largest sum seen of its RSS and the peaks of the tools it ran. ip netns
// exec execs the proxy in place, so the process started is the proxy.
func (r *running) memory() (rss, peak, tree uint64, err error) {
	rss, peak, err = r.ownMemory()
	return rss, peak, max(r.tree.Peak(), peak), err
}

func (r *running) ownMemory() (rss, peak uint64, err error) {
	pid := r.cmd.Process.Pid
	rss, peak = statusKB(pid, "VmRSS:"), statusKB(pid, "VmHWM:")
	if rss == 0 {
		return 0, 0, fmt.Errorf("reading %s's memory: no VmRSS in /proc/%d/status", r.proxy, pid)
	}
	return rss, peak, nil
}

// histogram is the sum and count of a histogram, over all its labels.
type histogram struct {
	sum   float64
	count uint64
}

// scrape reads the proxy's sync and programming histograms.
func (r *running) scrape(ctx context.Context) (syncs, programming histogram, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+metricsAddress+"/metrics", nil)
	if err != nil {
		return histogram{}, histogram{}, err
	}
	resp, err := r.metrics.Do(req)
	if err != nil {
		return histogram{}, histogram{}, fmt.Errorf("scraping %s: %w", r.proxy, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return histogram{}, histogram{}, fmt.Errorf("scraping %s: %s: %v", r.proxy, resp.Status, err)
	}
	return histogramOf(body, r.names.sync), histogramOf(body, r.names.programming), nil
}

// histogramOf adds up NAME_sum and NAME_count over every label set in a
// Prometheus text exposition, but for IPv6 series: the cluster is IPv4,
// and kube-proxy, which runs both families when the host can, syncs an
// empty IPv6 table beside it. Neither proxy writes timestamps or spaces
// in label values, so a sample's value is its line's last field.
func histogramOf(text []byte, name string) histogram {
	var h histogram
	for line := range strings.Lines(string(text)) {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.Contains(f[0], `ip_family="IPv6"`) {
			continue
		}
		metric, _, _ := strings.Cut(f[0], "{")
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		switch metric {
		case name + "_sum":
			h.sum += v
		case name + "_count":
			h.count += uint64(v)
		}
	}
	return h
}
