package metrics

import "github.com/prometheus/client_golang/prometheus"

// PacketCounter reads a kernel packet counter.
type PacketCounter func() (uint64, error)

// CountPackets registers kube-proxy's two iptables packet counters, read
// from the kernel at each scrape: the packets dropped as conntrack
// INVALID, and those accepted on localhost NodePorts. A counter that
// cannot be read is left out of that scrape, as kube-proxy leaves it.
// Call it once, where the counters exist.
func (m *Metrics) CountPackets(invalidDropped, localhostAccepted PacketCounter) {
	m.registry.MustRegister(
		&packetCollector{read: invalidDropped, desc: prometheus.NewDesc(kubeProxySubsystem+"_iptables_ct_state_invalid_dropped_packets_total",
			"packets dropped by iptables to work around conntrack problems", nil, nil)},
		&packetCollector{read: localhostAccepted, desc: prometheus.NewDesc(kubeProxySubsystem+"_iptables_localhost_nodeports_accepted_packets_total",
			"Number of packets accepted on nodeports of loopback interface", nil, nil)},
	)
}

// packetCollector exposes one PacketCounter as a counter.
type packetCollector struct {
	read PacketCounter
	desc *prometheus.Desc
}

var _ prometheus.Collector = (*packetCollector)(nil)

// Describe sends the counter's description.
func (c *packetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect reads the counter.
func (c *packetCollector) Collect(ch chan<- prometheus.Metric) {
	n, err := c.read()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n))
}
