// Package metrics records what the proxy's sync loop does as Prometheus
// metrics, in a registry of its own, and serves them on /metrics.
//
// Every metric is named svcproxy_<name>:
//
//	sync_duration_seconds                histogram  kind=full|partial
//	last_sync_timestamp_seconds          gauge
//	sync_failures_total                  counter    kind=full|partial
//	rules                                gauge      family, table, type=rules|elements|chains
//	network_programming_duration_seconds histogram
//	service_ports                        gauge      family
//
// The registry also holds the standard Go runtime and process collectors.
package metrics
