package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// t0 is the fake clock's time.
var t0 = time.Unix(1700000000, 500_000_000)

// newTestMetrics returns Metrics whose clock reads t0.
func newTestMetrics() *Metrics {
	m := New()
	m.now = func() time.Time { return t0 }
	return m
}

// histogram returns the sample count and sum of the histogram name whose
// labels include want.
func histogram(t *testing.T, m *Metrics, name string, want map[string]string) (uint64, float64) {
	t.Helper()
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
					continue metric
				}
			}
			return metric.GetHistogram().GetSampleCount(), metric.GetHistogram().GetSampleSum()
		}
	}
	return 0, 0
}

func TestObserveSync(t *testing.T) {
	type sync struct {
		kind string
		d    time.Duration
		err  error
	}
	tests := []struct {
		name                       string
		syncs                      []sync
		wantFull, wantPartial      uint64
		wantFullFail, wantPartFail float64
		wantLast                   float64
	}{
		{name: "nothing yet"},
		{
			name:     "successes",
			syncs:    []sync{{KindFull, time.Second, nil}, {KindPartial, 10 * time.Millisecond, nil}},
			wantFull: 1, wantPartial: 1, wantLast: 1700000000.5,
		},
		{
			name:        "failure counts and keeps the last success",
			syncs:       []sync{{KindPartial, time.Millisecond, errors.New("boom")}, {KindPartial, time.Millisecond, errors.New("boom")}},
			wantPartial: 2, wantPartFail: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMetrics()
			for _, s := range tt.syncs {
				m.ObserveSync(s.kind, s.d, s.err)
			}
			if n, _ := histogram(t, m, "svcproxy_sync_duration_seconds", map[string]string{"kind": KindFull}); n != tt.wantFull {
				t.Errorf("full syncs observed = %d, want %d", n, tt.wantFull)
			}
			if n, _ := histogram(t, m, "svcproxy_sync_duration_seconds", map[string]string{"kind": KindPartial}); n != tt.wantPartial {
				t.Errorf("partial syncs observed = %d, want %d", n, tt.wantPartial)
			}
			if got := testutil.ToFloat64(m.syncFailures.WithLabelValues(KindFull)); got != tt.wantFullFail {
				t.Errorf("full failures = %v, want %v", got, tt.wantFullFail)
			}
			if got := testutil.ToFloat64(m.syncFailures.WithLabelValues(KindPartial)); got != tt.wantPartFail {
				t.Errorf("partial failures = %v, want %v", got, tt.wantPartFail)
			}
			if got := testutil.ToFloat64(m.lastSync); got != tt.wantLast {
				t.Errorf("last sync = %v, want %v", got, tt.wantLast)
			}
		})
	}
}

func TestObserveProgramming(t *testing.T) {
	applied := t0
	tests := []struct {
		name      string
		triggers  []time.Time
		wantCount uint64
		wantSum   float64
	}{
		{name: "none"},
		{name: "two changes", triggers: []time.Time{applied.Add(-2 * time.Second), applied.Add(-500 * time.Millisecond)}, wantCount: 2, wantSum: 2.5},
		{name: "zero and future triggers skipped", triggers: []time.Time{{}, applied.Add(time.Second), applied.Add(-time.Second)}, wantCount: 1, wantSum: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMetrics()
			m.ObserveProgramming(model.IPv4, tt.triggers, applied)
			n, sum := histogram(t, m, "svcproxy_network_programming_duration_seconds", nil)
			if n != tt.wantCount || sum != tt.wantSum {
				t.Errorf("observed %d samples summing %v, want %d summing %v", n, sum, tt.wantCount, tt.wantSum)
			}
		})
	}
}

func TestRuleCounts(t *testing.T) {
	tests := []struct {
		name string
		set  func(m *Metrics)
		want string
	}{
		{
			name: "two tables",
			set: func(m *Metrics) {
				m.SetRuleCounts(model.IPv4, render.Counts{Table: "nat", Rules: 12, Chains: 4})
				m.SetRuleCounts(model.IPv6, render.Counts{Table: "svcproxy", Rules: 7, Elements: 3, Chains: 2})
			},
			want: `
# HELP svcproxy_rules Rules, set elements and chains the last successful sync left in each table.
# TYPE svcproxy_rules gauge
svcproxy_rules{family="ipv4",table="nat",type="chains"} 4
svcproxy_rules{family="ipv4",table="nat",type="elements"} 0
svcproxy_rules{family="ipv4",table="nat",type="rules"} 12
svcproxy_rules{family="ipv6",table="svcproxy",type="chains"} 2
svcproxy_rules{family="ipv6",table="svcproxy",type="elements"} 3
svcproxy_rules{family="ipv6",table="svcproxy",type="rules"} 7
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMetrics()
			tt.set(m)
			if err := testutil.CollectAndCompare(m.rules, strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestServicePorts(t *testing.T) {
	m := newTestMetrics()
	m.SetServicePorts(model.IPv4, 5)
	m.SetServicePorts(model.IPv6, 2)
	m.SetServicePorts(model.IPv4, 3)
	want := `
# HELP svcproxy_service_ports Service ports the last successful sync programmed, by IP family.
# TYPE svcproxy_service_ports gauge
svcproxy_service_ports{family="ipv4"} 3
svcproxy_service_ports{family="ipv6"} 2
`
	if err := testutil.CollectAndCompare(m.servicePorts, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// populated returns Metrics with every metric observed once.
func populated() *Metrics {
	m := newTestMetrics()
	m.ObserveSync(KindFull, time.Second, nil)
	m.ObserveProgramming(model.IPv4, []time.Time{t0.Add(-time.Second)}, t0)
	m.SetRuleCounts(model.IPv4, render.Counts{Table: "nat", Rules: 1, Chains: 1})
	m.SetServicePorts(model.IPv4, 1)
	return m
}

// wantFamilies are the families /metrics must expose, with their types.
var wantFamilies = []string{
	"# TYPE svcproxy_sync_duration_seconds histogram",
	"# TYPE svcproxy_last_sync_timestamp_seconds gauge",
	"# TYPE svcproxy_sync_failures_total counter",
	"# TYPE svcproxy_rules gauge",
	"# TYPE svcproxy_network_programming_duration_seconds histogram",
	"# TYPE svcproxy_service_ports gauge",
	"# TYPE go_goroutines gauge",
}

func TestHandlerExposesFamilies(t *testing.T) {
	rec := httptest.NewRecorder()
	NewServer("", populated()).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range wantFamilies {
		t.Run(strings.Fields(want)[2], func(t *testing.T) {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		})
	}
}

func TestLint(t *testing.T) {
	problems, err := testutil.GatherAndLint(populated().registry,
		"svcproxy_sync_duration_seconds", "svcproxy_last_sync_timestamp_seconds", "svcproxy_sync_failures_total",
		"svcproxy_rules", "svcproxy_network_programming_duration_seconds", "svcproxy_service_ports")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestServerServe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- NewServer("unused", populated()).Serve(ctx, l) }()
	resp, err := http.Get("http://" + l.Addr().String() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "svcproxy_service_ports") {
		t.Errorf("served /metrics lacks svcproxy_service_ports")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve returned %v after cancel, want nil", err)
	}
	if err := NewServer("", populated()).Run(context.Background()); err != nil {
		t.Errorf("Run with no bind address = %v, want nil", err)
	}
}

// TestServerProfiling checks that the profiles are served with
// Profiling, as kube-proxy's --profiling serves them, and not without.
func TestServerProfiling(t *testing.T) {
	for _, profiling := range []bool{false, true} {
		s := NewServer("", populated())
		s.Profiling = profiling
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/heap?debug=1", nil))
		served := rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "heap profile")
		if served != profiling {
			t.Errorf("Profiling %v: GET /debug/pprof/heap answered %d, %.40q", profiling, rec.Code, rec.Body.String())
		}
	}
}
