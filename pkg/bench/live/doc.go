// Package live measures proxies end to end against a real kube-apiserver:
// the synthetic cluster of package bench is written to the API, each proxy
// under test (svcproxy, and kube-proxy for comparison) runs as its own
// process in a network namespace of its own, and the figures are read
// from each proxy's Prometheus metrics, the same way for both:
//   - the first full sync: the duration of the sync that loaded the whole
//     cluster;
//   - one endpoint change, API write to kernel: the network programming
//     latency each proxy reports for an EndpointSlice update, measured
//     from the endpoints.kubernetes.io/last-change-trigger-time annotation
//     the benchmark sets to the moment of the write, to the end of the
//     sync that applied it;
//   - the RSS of the proxy process once it is idle, and its peak.
//
// Reading both proxies' own metrics, rather than polling the kernel, keeps
// the benchmark from adding load to what it measures; both proxies define
// those metrics the same way.
package live
