package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric name.
const namespace = "svcproxy"

// Sync kinds, the values of the kind label.
const (
	// KindFull is a sync that rewrites every rule.
	KindFull = "full"
	// KindPartial is a sync that rewrites only the changed Services.
	KindPartial = "partial"
)

// Metrics holds the proxy's metrics and the registry they live in.
type Metrics struct {
	registry *prometheus.Registry
	// now reads the clock for last_sync_timestamp_seconds; tests replace it.
	now func() time.Time

	syncDuration *prometheus.HistogramVec
	lastSync     prometheus.Gauge
	syncFailures *prometheus.CounterVec
	rules        *prometheus.GaugeVec
	programming  prometheus.Histogram
	servicePorts *prometheus.GaugeVec
	kubeProxy    *kubeProxy
}

// programmingBuckets span a quarter second to ten minutes: how long an
// endpoint change may take to reach the rules, from a fast node to one
// whose API server or sync loop is far behind.
var programmingBuckets = []float64{0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600}

// New returns Metrics in a new registry of their own, with every kind
// label already present, so failures read 0 before the first one.
func New() *Metrics {
	m := &Metrics{
		registry:  prometheus.NewRegistry(),
		now:       time.Now,
		kubeProxy: newKubeProxy(),
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "sync_duration_seconds",
			Help:    "How long syncing the rules took, by kind of sync.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"kind"}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "last_sync_timestamp_seconds",
			Help: "When the rules were last synced successfully, in seconds since the Unix epoch.",
		}),
		syncFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sync_failures_total",
			Help: "Syncs that failed to apply the rules, by kind of sync.",
		}, []string{"kind"}),
		rules: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "rules",
			Help: "Rules, set elements and chains the last successful sync left in each table.",
		}, []string{"family", "table", "type"}),
		programming: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "network_programming_duration_seconds",
			Help:    "Time from an EndpointSlice change (its trigger time) to the rules that reflect it being applied.",
			Buckets: programmingBuckets,
		}),
		servicePorts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "service_ports",
			Help: "Service ports the last successful sync programmed, by IP family.",
		}, []string{"family"}),
	}
	m.registry.MustRegister(m.syncDuration, m.lastSync, m.syncFailures, m.rules, m.programming, m.servicePorts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registry.MustRegister(m.kubeProxy.collectors()...)
	for _, kind := range []string{KindFull, KindPartial} {
		m.syncFailures.WithLabelValues(kind)
	}
	return m
}

// Handler returns the handler serving the registry in the Prometheus
// exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}
