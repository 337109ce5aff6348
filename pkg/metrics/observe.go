package metrics

import (
	"time"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render"
)

// ObserveSync records one sync of the given kind (KindFull or
// KindPartial) that took d: its duration always, and then either the
// time it finished, when err is nil, or one more failure.
func (m *Metrics) ObserveSync(kind string, d time.Duration, err error) {
	m.syncDuration.WithLabelValues(kind).Observe(d.Seconds())
	if err != nil {
		m.syncFailures.WithLabelValues(kind).Inc()
		return
	}
	m.lastSync.Set(float64(m.now().UnixNano()) / 1e9)
}

// ObserveProgramming records, for each trigger time of an EndpointSlice
// of family, how long it took until the rules reflecting it were applied
// at applied. Zero trigger times (slices that carry none) and ones after
// applied (clock skew between the API server and the node) are skipped.
func (m *Metrics) ObserveProgramming(family model.Family, triggers []time.Time, applied time.Time) {
	for _, trigger := range triggers {
		if trigger.IsZero() || trigger.After(applied) {
			continue
		}
		d := applied.Sub(trigger).Seconds()
		m.programming.Observe(d)
		m.kubeProxy.programming.WithLabelValues(ipFamily(family)).Observe(d)
	}
}

// SetRuleCounts records what one table (such as "nat" for iptables or
// "svcproxy" for nftables) holds in family.
func (m *Metrics) SetRuleCounts(family model.Family, c render.Counts) {
	f := family.String()
	m.rules.WithLabelValues(f, c.Table, "rules").Set(float64(c.Rules))
	m.rules.WithLabelValues(f, c.Table, "elements").Set(float64(c.Elements))
	m.rules.WithLabelValues(f, c.Table, "chains").Set(float64(c.Chains))
}

// SetServicePorts records how many service ports family has.
func (m *Metrics) SetServicePorts(family model.Family, n int) {
	m.servicePorts.WithLabelValues(family.String()).Set(float64(n))
}
