// Package conntrack deletes the conntrack entries that would keep UDP
// clients talking to backends a Service no longer has, and reads the
// node's conntrack settings.
//
// UDP has no connection for a client to lose: a client such as a DNS
// resolver that keeps its source port keeps matching one conntrack entry,
// and so keeps reaching the endpoint the entry was DNATed to, even after
// that endpoint is gone, until the entry times out, which repeated
// traffic never lets it do. Likewise, datagrams sent while a Service had
// no endpoints create entries that were never DNATed; once endpoints
// appear, the client's flow keeps bypassing them. After every sync, as
// kube-proxy does, a [Cleaner] reconciles the table with the model
// through netlink: [ReconcileFilter] says which entries are stale.
package conntrack
