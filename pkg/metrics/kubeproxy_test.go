package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// kubeProxyObserved returns Metrics with every kube-proxy metric
// observed: a full IPv4 sync in iptables mode, a partial IPv6 one in
// nftables mode, a failure of each mode, and health check answers.
func kubeProxyObserved() *Metrics {
	m := newTestMetrics()
	// Queued before any family synced: it counts for the families that
	// sync next.
	m.ObserveQueued()
	m.ObserveFamilySync(FamilySync{Family: model.IPv4, Duration: 3 * time.Millisecond,
		Counts: []render.Counts{{Table: "filter", Rules: 4}, {Table: "nat", Rules: 9}},
		Sent:   []render.Counts{{Table: "nat", Rules: 3}}})
	m.ObserveFamilySync(FamilySync{Family: model.IPv6, Duration: time.Millisecond, Incremental: true, NFTables: true,
		Counts: []render.Counts{{Table: "svcproxy", Rules: 20, Elements: 5}}})
	m.ObserveFamilySync(FamilySync{Family: model.IPv4, Err: errors.New("restore refused")})
	m.ObserveFamilySync(FamilySync{Family: model.IPv6, NFTables: true, Err: errors.New("nft refused")})
	m.ObserveProgramming(model.IPv6, []time.Time{t0.Add(-2 * time.Second)}, t0)
	m.SetNoLocalEndpoints(model.IPv4, 1, 2)
	m.ObserveHealthCheck("/healthz", http.StatusOK)
	m.ObserveHealthCheck("/livez", http.StatusServiceUnavailable)
	m.WatchChanges(changes{pending: [2]int{1, 2}, total: [2]int{5, 7}})
	m.ObserveConntrack(model.IPv4, 3*time.Millisecond, 2)
	m.ObserveConntrack(model.IPv4, time.Millisecond, 1)
	return m
}

// changes is a ChangeSource with fixed counts.
type changes struct{ pending, total [2]int }

func (c changes) PendingChanges() (int, int) { return c.pending[0], c.pending[1] }
func (c changes) TotalChanges() (int, int)   { return c.total[0], c.total[1] }

// TestKubeProxyMetrics checks kube-proxy's names, types, labels and
// buckets in /metrics, and what each counts.
func TestKubeProxyMetrics(t *testing.T) {
	rec := httptest.NewRecorder()
	NewServer("", kubeProxyObserved()).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram",
		`kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 1`,
		`kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv6"} 1`,
		`kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.001"} 0`,
		`kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.004"} 1`,
		`kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="16.384"} 1`,
		`kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family="IPv4"} 1`,
		`kubeproxy_sync_partial_proxy_rules_duration_seconds_count{ip_family="IPv6"} 1`,
		"# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge",
		`kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7000000005e+09`,
		`kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="1"} 0`,
		`kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="2"} 1`,
		`kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="115"} 1`,
		`kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="300"} 1`,
		`kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family="IPv4"} 1`,
		`kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family="IPv6"} 1`,
		`kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv4",table="nat"} 9`,
		`kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family="IPv4",traffic_policy="internal"} 1`,
		`kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family="IPv4",traffic_policy="external"} 2`,
		`kubeproxy_proxy_healthz_total{code="200"} 1`,
		"# TYPE kubeproxy_conntrack_reconciler_sync_duration_seconds histogram",
		`kubeproxy_conntrack_reconciler_sync_duration_seconds_count{ip_family="IPv4"} 2`,
		`kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv4",le="0.001"} 1`,
		`kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv4",le="16.384"} 2`,
		"# TYPE kubeproxy_conntrack_reconciler_deleted_entries_total counter",
		`kubeproxy_conntrack_reconciler_deleted_entries_total{ip_family="IPv4"} 3`,
		`kubeproxy_proxy_livez_total{code="503"} 1`,
		`kubeproxy_sync_proxy_rules_iptables_last{ip_family="IPv4",table="nat"} 3`,
		`kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"} 1.7000000005e+09`,
		`kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv6"} 1.7000000005e+09`,
		"# TYPE kubeproxy_sync_proxy_rules_service_changes_pending gauge",
		"kubeproxy_sync_proxy_rules_service_changes_pending 1",
		"kubeproxy_sync_proxy_rules_endpoint_changes_pending 2",
		"# TYPE kubeproxy_sync_proxy_rules_service_changes_total counter",
		"kubeproxy_sync_proxy_rules_service_changes_total 5",
		"kubeproxy_sync_proxy_rules_endpoint_changes_total 7",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv6"`) {
		t.Error("an nftables family counts iptables rules")
	}
	if n := strings.Count(body, "kubeproxy_network_programming_duration_seconds_bucket{"); n != 81 {
		t.Errorf("network programming has %d buckets, want kube-proxy's 80 and +Inf", n)
	}
}

// kubeProxyGaugesNamedTotal are gauges kube-proxy names with a _total
// suffix, which Prometheus' conventions keep for counters; the names are
// kube-proxy's, so they stay.
var kubeProxyGaugesNamedTotal = map[string]bool{
	"kubeproxy_sync_proxy_rules_iptables_total":           true,
	"kubeproxy_sync_proxy_rules_no_local_endpoints_total": true,
}

func TestKubeProxyLint(t *testing.T) {
	problems, err := testutil.GatherAndLint(kubeProxyObserved().registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "kubeproxy_") && !(kubeProxyGaugesNamedTotal[p.Metric] && strings.Contains(p.Text, "_total")) {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
