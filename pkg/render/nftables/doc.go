// Package nftables renders a model.Model as the nftables table
// `ip svcproxy` (or `ip6 svcproxy`): RenderRuleset writes the `nft -f`
// text of the whole table, and Diff the delta from one model's table to
// the next one's. It has render/iptables' shape (see package render).
//
// # Layout
//
// Loading rules costs the kernel about 30 µs per rule, an anonymous set
// or map per Service about 1 ms, and a named map referenced from many
// rules grows with elements × referencing rules. So the common path has
// no per-Service chains or rules at all; per-Service state lives in map
// elements, and every map is referenced from one rule:
//
//   - service-ips (addr . proto . port : verdict), looked up by the one
//     rule in chain services, sends each cluster, external and load
//     balancer IP to a chain shared by every destination of the same
//     kind and endpoint count N: cluster-N (mark for masquerade if the
//     source is outside cluster-cidrs, or always with MasqueradeAll),
//     external-N (always mark), external-local-N-K (Local policy: pods
//     to all N endpoints unmasqueraded, the node masqueraded, everyone
//     else to the K local ones). service-nodeports (proto . port) does
//     the same for NodePorts, matched on non-loopback local addresses or
//     the nodeport-ips set.
//   - Each of those ends in dnat-N (dnat-local-K), whose single rule is
//     `dnat ip to ip daddr . meta l4proto . th dport . numgen random mod N
//     map @select-N`: select-N maps a destination and an index below N to
//     an endpoint. NodePorts use nodeport-select-N keyed by proto . port.
//     Local and cluster lists live in different maps, so they never
//     collide. All of these are per protocol (cluster-tcp-N,
//     select-udp-N): the map's value must be typed "tcp dport" (or udp,
//     sctp), because nft 1.0.6 cannot read back a map typed "th dport"
//     once loaded, and that type makes nft add an implicit "meta l4proto"
//     check to the DNAT rule, which a shared map would get wrong for the
//     other protocols.
//   - Hairpin: one set of endpoint . endpoint pairs, one postrouting rule.
//   - Ports a Service does not have: one set of the cluster IPs, looked
//     up in filter forward and output after DNAT, where what is still
//     addressed to a cluster IP is refused, as kube-proxy's nftables mode
//     refuses it. The hairpin set and this one are shared: several ports
//     contribute each element.
//   - No endpoints: maps no-endpoint-services / no-endpoint-nodeports
//     (drop, or goto reject-chain) looked up in filter input, forward and
//     a filter output chain at priority 0, all after DNAT: they catch only
//     what was not DNATed. Under a Local external policy without local
//     endpoints, pods and the node are still DNATed to the cluster
//     endpoints by external-local-N-0 and pass; everyone else keeps the
//     original destination and is dropped, as kube-proxy does. Reject is
//     also only guaranteed in those hooks (older kernels refuse it in
//     prerouting).
//   - Load balancer source ranges are rare: a firewall-HASH chain per
//     Service, jumped to from the firewall-ips map in filter prerouting
//     and output at priority dstnat-10, before DNAT rewrites the address.
//   - Session affinity needs per-endpoint state and is rare: per-Service
//     chains (service-HASH, external-HASH, affinity-HASH, endpoint-HASH)
//     and a dynamic sticky-HASH set per endpoint, off the common path.
//
// Base chain priorities are numbers, because nft 1.0.6 refuses
// "dstnat-10" and refuses "dstnat" on the output hook.
//
// # Measurements
//
// On the development machine (2 vCPUs, kernel 6.x, nft 1.0.6), 10,000
// Services × 10 endpoints, one of each on this node, every tenth with a
// NodePort (TestLoadTime, run with SVCPROXY_NFT_LOADTEST=1): 16 chains,
// 22 rules, 10 sets and maps, 131,001 elements (100,000 select, 10,000
// hairpin, 10,000 + 1,000 dispatch, 10,000 NodePort select). The hairpin
// set holds only endpoints on this node (or of unknown node): a pod's
// traffic is rewritten on its own node, so no other endpoint can reach
// itself here. Holding every endpoint, as the set first did, made it
// 221,001 elements and the first load 2.1–2.3 s. The cluster-ips set,
// added later, brought 10,000 elements more: 141,003 loaded in 1.56 s,
// resynced in 1.48 s, and one endpoint change took 20 ms (2026-12-01).
//
//   - nft -f of the text: 1.6 s on an empty namespace, 1.1 s for a
//     resync over the loaded table (with 221,001 elements, a busier run
//     took 4.0 s to resync, the kernel flushing sets element by element;
//     the applier therefore deletes the table in the same transaction).
//     Each set's elements are merged into commands of up to 1,000;
//     knftables' own tx.String() writes one command per element, and
//     that text took 8.0 s (16.9 s to resync) at 221,001 elements,
//     because nft pays per command.
//   - One endpoint change (delete and add one select element): 15–26 ms.
//   - Going through a knftables transaction for every element took about
//     140 ms and 145 MB per render, most of it knftables formatting each
//     element with fmt. BenchmarkRenderRuleset writes the elements
//     itself: about 20 ms and 25 MB, and keeps an Index of a few MB.
//
// # Incremental syncs
//
// A Ruleset's State holds the model and an Index: how many Service ports
// claim each destination, use each chain and contribute each address of a
// shared set (hairpin, cluster IPs). Diff takes that State and the next
// model, renders only the ports that changed (model.ChangedPorts) once in
// each model's context, and writes a transaction of just their element
// deletions and additions, the shared sets' elements whose count reached or
// left zero, and the chains whose count did (added with their rules and
// maps, or flushed and deleted), plus the per-Service chains whose rules
// changed (flushed and refilled). Elements of different ports only share a
// key when the ports claim the same destination, so this reaches exactly
// the table a full render would; where a claim is contested, or the family,
// node or configuration changed, Diff asks for a full sync instead. At
// 10,000 Services one endpoint change is about 5 ms of Go when models share
// no pointers and 0.3 ms when unchanged ports keep theirs
// (BenchmarkDiffOneEndpoint).
//
// # Limits
//
// A full load replaces the table (Ruleset.Transaction deletes the old one
// in the same transaction), so chains, sets and maps a previous model
// needed go with it; it also empties the affinity sets, so a full resync
// forgets session affinity. When two Service ports claim the same
// destination, the first in model order gets it.
package nftables
