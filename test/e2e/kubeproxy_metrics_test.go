package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/svcproxy/svcproxy/internal/daemon"
	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/testnet"
)

// metricFamily matches a "# TYPE name type" line of the text exposition.
var metricFamily = regexp.MustCompile(`(?m)^# TYPE (kubeproxy_[a-z0-9_]+) ([a-z]+)$`)

// TestKubeProxyMetricNames runs the real kube-proxy, built from
// test/tools, in iptables mode against the same API server as svcproxy,
// in a namespace of its own, and checks that every kubeproxy_ metric its
// /metrics lists, with its type, is in svcproxy's: dashboards and alerts
// built on kube-proxy read those.
func TestKubeProxyMetricNames(t *testing.T) {
	c := newCluster(t, "iptables")
	c.createService(t, service("web", "10.0.0.50", 80, v1.ProtocolTCP), slice("web", v1.ProtocolTCP, echoPort, ready(podA, podB)...))
	eventually(t, syncBudget, "Service", c.reaches(testnet.TCP, "10.0.0.50:80", 10, podA, podB))
	ns := startKubeProxy(t, c)
	var theirs string
	eventually(t, time.Minute, "kube-proxy's first sync", func() error {
		_, _, _ = httpGet(ns, "http://127.0.0.1:10256/healthz")
		_, _, _ = httpGet(ns, "http://127.0.0.1:10256/livez")
		var err error
		_, theirs, err = httpGet(ns, "http://127.0.0.1:10249/metrics")
		if err == nil && !strings.Contains(theirs, "kubeproxy_sync_proxy_rules_last_timestamp_seconds{") {
			err = errors.New("no sync yet")
		}
		return err
	})
	_, _, _ = httpGet(c.topo.Node, "http://127.0.0.1:10256/healthz")
	_, _, _ = httpGet(c.topo.Node, "http://127.0.0.1:10256/livez")
	_, ours, err := httpGet(c.topo.Node, "http://127.0.0.1:10249/metrics")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, m := range metricFamily.FindAllStringSubmatch(ours, -1) {
		have[m[1]] = m[2]
	}
	var listed []string
	for _, m := range metricFamily.FindAllStringSubmatch(theirs, -1) {
		name, typ := m[1], m[2]
		listed = append(listed, name)
		if got, ok := have[name]; !ok || got != typ {
			t.Errorf("kube-proxy's %s %s: svcproxy has %q", typ, name, got)
		}
	}
	if len(listed) < 5 {
		t.Fatalf("kube-proxy listed only %v:\n%s", listed, theirs)
	}
	slices.Sort(listed)
	t.Logf("kube-proxy's metrics: %s", strings.Join(listed, " "))
}

// startKubeProxy runs kube-proxy in a namespace of its own, reaching the
// API server through a forward, and returns the namespace.
func startKubeProxy(t *testing.T, c *cluster) *netns.NS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bins, err := kubeapi.Build(ctx, t.Logf, kubeapi.KubeProxy)
	if err != nil {
		t.Fatal(err)
	}
	ns := netnstest.New(t)
	fwd, err := c.api.Forward(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fwd.Close() })
	log := filepath.Join(t.TempDir(), "kube-proxy.log")
	d, err := daemon.Start("kube-proxy", log, ns.Prefix(), bins[kubeapi.KubeProxy],
		"--kubeconfig", c.api.Kubeconfig, "--hostname-override", "node-a", "--proxy-mode", "iptables",
		"--cluster-cidr", "10.1.0.0/16", "--metrics-bind-address", "127.0.0.1:10249",
		"--healthz-bind-address", "127.0.0.1:10256", "--conntrack-max-per-core", "0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(5 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("kube-proxy's log:\n%s", daemon.LogTail(log, 40))
		}
	})
	return ns
}
