package metrics

import (
	"strconv"
	stdsync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// kubeProxySubsystem prefixes kube-proxy's metric names.
const kubeProxySubsystem = "kubeproxy"

// kubeProxy holds the metrics kube-proxy exposes, under its names, types,
// labels and buckets and with its meaning, so that the dashboards and
// alerts of a cluster that ran kube-proxy keep working on its nodes.
// svcproxy's own metrics stay beside them.
type kubeProxy struct {
	sync, syncFull, syncPartial *prometheus.HistogramVec
	lastSync                    *prometheus.GaugeVec
	programming                 *prometheus.HistogramVec
	restoreFailures             *prometheus.CounterVec
	nftablesFailures            *prometheus.CounterVec
	iptablesRules               *prometheus.GaugeVec
	noLocalEndpoints            *prometheus.GaugeVec
	healthz, livez              *prometheus.CounterVec
	lastQueued                  *prometheus.GaugeVec
	iptablesLast                *prometheus.GaugeVec
	conntrackSync               *prometheus.HistogramVec
	conntrackDeleted            *prometheus.CounterVec

	// mu guards families, the families synced so far, for each of which
	// a change is queued, and queued, when a change was last queued.
	mu       stdsync.Mutex
	families map[model.Family]bool
	queued   float64
}

// kubeProxySyncBuckets are kube-proxy's buckets for sync durations: 1 ms
// doubling to about 16 s.
var kubeProxySyncBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

// kubeProxyProgrammingBuckets are kube-proxy's buckets for network
// programming latency: a quarter and half second, every second to a
// minute, every 5 s to two minutes, every 30 s to five.
func kubeProxyProgrammingBuckets() []float64 {
	b := []float64{0.25, 0.5}
	b = append(b, prometheus.LinearBuckets(1, 1, 59)...)
	b = append(b, prometheus.LinearBuckets(60, 5, 12)...)
	return append(b, prometheus.LinearBuckets(120, 30, 7)...)
}

func newKubeProxy() *kubeProxy {
	family := []string{"ip_family"}
	histogram := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Subsystem: kubeProxySubsystem, Name: name, Help: help, Buckets: buckets}, family)
	}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: kubeProxySubsystem, Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: kubeProxySubsystem, Name: name, Help: help}, labels)
	}
	return &kubeProxy{
		sync:             histogram("sync_proxy_rules_duration_seconds", "How long a sync of a family's rules took.", kubeProxySyncBuckets),
		syncFull:         histogram("sync_full_proxy_rules_duration_seconds", "How long a full sync of a family's rules took.", kubeProxySyncBuckets),
		syncPartial:      histogram("sync_partial_proxy_rules_duration_seconds", "How long a partial sync of a family's rules took.", kubeProxySyncBuckets),
		lastSync:         gauge("sync_proxy_rules_last_timestamp_seconds", "When a family's rules were last synced successfully.", family),
		programming:      histogram("network_programming_duration_seconds", "Time from an EndpointSlice change to the rules that reflect it being applied.", kubeProxyProgrammingBuckets()),
		restoreFailures:  counter("sync_proxy_rules_iptables_restore_failures_total", "iptables-restore runs that failed.", family),
		nftablesFailures: counter("sync_proxy_rules_nftables_sync_failures_total", "nft transactions that failed.", family),
		iptablesRules:    gauge("sync_proxy_rules_iptables_total", "Rules in each iptables table svcproxy programs.", []string{"table", "ip_family"}),
		noLocalEndpoints: gauge("sync_proxy_rules_no_local_endpoints_total", "Service ports with a Local traffic policy and no local endpoint.", []string{"traffic_policy", "ip_family"}),
		healthz:          counter("proxy_healthz_total", "/healthz answers, by status code.", []string{"code"}),
		livez:            counter("proxy_livez_total", "/livez answers, by status code.", []string{"code"}),
		lastQueued:       gauge("sync_proxy_rules_last_queued_timestamp_seconds", "When a change last queued a sync of a family's rules.", family),
		iptablesLast:     gauge("sync_proxy_rules_iptables_last", "Rules the last iptables-restore of a family sent, by table.", []string{"table", "ip_family"}),
		conntrackSync:    histogram("conntrack_reconciler_sync_duration_seconds", "How long reconciling a family's UDP conntrack entries took.", prometheus.ExponentialBuckets(0.001, 2, 15)),
		conntrackDeleted: counter("conntrack_reconciler_deleted_entries_total", "UDP conntrack entries the reconciliation deleted.", family),
		families:         map[model.Family]bool{},
	}
}

func (k *kubeProxy) collectors() []prometheus.Collector {
	return []prometheus.Collector{k.sync, k.syncFull, k.syncPartial, k.lastSync, k.programming, k.restoreFailures,
		k.nftablesFailures, k.iptablesRules, k.noLocalEndpoints, k.healthz, k.livez, k.lastQueued, k.iptablesLast,
		k.conntrackSync, k.conntrackDeleted}
}

// ipFamily is a family as kube-proxy's ip_family label spells it.
func ipFamily(f model.Family) string {
	if f == model.IPv6 {
		return string(v1.IPv6Protocol)
	}
	return string(v1.IPv4Protocol)
}

// FamilySync is one family's part of a sync, as kube-proxy's metrics
// count it: kube-proxy syncs each family on its own.
type FamilySync struct {
	Family model.Family
	// Duration is what bringing the family's rules to the model took.
	Duration time.Duration
	// Incremental is true when only what changed was sent.
	Incremental bool
	// NFTables is true when the family is in nftables mode, false for
	// either iptables variant.
	NFTables bool
	// Err is the apply's error; nil on success.
	Err error
	// Counts are the family's tables after a success, and Sent what the
	// apply sent of them.
	Counts, Sent []render.Counts
}

// ObserveConntrack records one reconciliation of a family's UDP
// conntrack entries, as kube-proxy's conntrack reconciler metrics count
// them.
func (m *Metrics) ObserveConntrack(family model.Family, took time.Duration, deleted int) {
	fam := ipFamily(family)
	m.kubeProxy.conntrackSync.WithLabelValues(fam).Observe(took.Seconds())
	m.kubeProxy.conntrackDeleted.WithLabelValues(fam).Add(float64(deleted))
}

// ObserveFamilySync records one family's sync in kube-proxy's metrics.
func (m *Metrics) ObserveFamilySync(s FamilySync) {
	k, fam := m.kubeProxy, ipFamily(s.Family)
	if s.Err != nil {
		if s.NFTables {
			k.nftablesFailures.WithLabelValues(fam).Inc()
		} else {
			k.restoreFailures.WithLabelValues(fam).Inc()
		}
		return
	}
	k.sync.WithLabelValues(fam).Observe(s.Duration.Seconds())
	if s.Incremental {
		k.syncPartial.WithLabelValues(fam).Observe(s.Duration.Seconds())
	} else {
		k.syncFull.WithLabelValues(fam).Observe(s.Duration.Seconds())
	}
	k.lastSync.WithLabelValues(fam).Set(float64(m.now().UnixNano()) / 1e9)
	k.mu.Lock()
	if !k.families[s.Family] && k.queued != 0 {
		// Changes queued before the family's first sync were for it too.
		k.lastQueued.WithLabelValues(fam).Set(k.queued)
	}
	k.families[s.Family] = true
	k.mu.Unlock()
	if s.NFTables {
		return
	}
	for _, c := range s.Counts {
		k.iptablesRules.WithLabelValues(c.Table, fam).Set(float64(c.Rules))
	}
	for _, c := range s.Sent {
		k.iptablesLast.WithLabelValues(c.Table, fam).Set(float64(c.Rules))
	}
}

// ObserveQueued records that a change queued a sync, for every family
// synced so far: svcproxy syncs them together.
func (m *Metrics) ObserveQueued() {
	k := m.kubeProxy
	now := float64(m.now().UnixNano()) / 1e9
	k.mu.Lock()
	defer k.mu.Unlock()
	k.queued = now
	for fam := range k.families {
		k.lastQueued.WithLabelValues(ipFamily(fam)).Set(now)
	}
}

// ChangeSource counts the changes of watched objects, for kube-proxy's
// change metrics. watch.Tracker is one.
type ChangeSource interface {
	// PendingChanges are the objects whose change awaits a sync.
	PendingChanges() (services, endpointSlices int)
	// TotalChanges are the changes seen since the start.
	TotalChanges() (services, endpointSlices int)
}

// WatchChanges registers kube-proxy's change metrics, read from src at
// each scrape. Call it once.
func (m *Metrics) WatchChanges(src ChangeSource) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Subsystem: kubeProxySubsystem, Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Subsystem: kubeProxySubsystem, Name: name, Help: help}, f)
	}
	m.registry.MustRegister(
		gauge("sync_proxy_rules_service_changes_pending", "Service changes waiting for a sync.",
			func() float64 { s, _ := src.PendingChanges(); return float64(s) }),
		gauge("sync_proxy_rules_endpoint_changes_pending", "EndpointSlice changes waiting for a sync.",
			func() float64 { _, e := src.PendingChanges(); return float64(e) }),
		counter("sync_proxy_rules_service_changes_total", "Service changes seen.",
			func() float64 { s, _ := src.TotalChanges(); return float64(s) }),
		counter("sync_proxy_rules_endpoint_changes_total", "EndpointSlice changes seen.",
			func() float64 { _, e := src.TotalChanges(); return float64(e) }),
	)
}

// SetNoLocalEndpoints records, for a family, how many Service ports with
// a Local internal and external traffic policy have no local endpoint.
func (m *Metrics) SetNoLocalEndpoints(family model.Family, internal, external int) {
	fam := ipFamily(family)
	m.kubeProxy.noLocalEndpoints.WithLabelValues("internal", fam).Set(float64(internal))
	m.kubeProxy.noLocalEndpoints.WithLabelValues("external", fam).Set(float64(external))
}

// ObserveHealthCheck counts one answer of /healthz or /livez.
func (m *Metrics) ObserveHealthCheck(path string, code int) {
	switch path {
	case "/healthz":
		m.kubeProxy.healthz.WithLabelValues(strconv.Itoa(code)).Inc()
	case "/livez":
		m.kubeProxy.livez.WithLabelValues(strconv.Itoa(code)).Inc()
	}
}
