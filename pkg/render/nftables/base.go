package nftables

import (
	"net/netip"
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Names of the fixed chains, sets and maps.
const (
	chainFilterPrerouting = "filter-prerouting"
	chainFilterInput      = "filter-input"
	chainFilterForward    = "filter-forward"
	chainFilterOutput     = "filter-output"
	chainFilterOutputNAT  = "filter-output-post-dnat"
	chainNATPrerouting    = "nat-prerouting"
	chainNATOutput        = "nat-output"
	chainNATPostrouting   = "nat-postrouting"
	chainServices         = "services"
	chainMasquerading     = "masquerading"
	chainMark             = "mark-for-masquerade"
	chainReject           = "reject-chain"

	mapServiceIPs          = "service-ips"
	mapServiceNodePorts    = "service-nodeports"
	mapFirewallIPs         = "firewall-ips"
	mapNoEndpointServices  = "no-endpoint-services"
	mapNoEndpointNodePorts = "no-endpoint-nodeports"
	setClusterCIDRs        = "cluster-cidrs"
	setNodePortIPs         = "nodeport-ips"
	setHairpin             = "hairpin"
	setClusterIPs          = "cluster-ips"
)

// Base chain priorities. The firewall chains run at dstnat-10 so that they
// see the load balancer IP before DNAT rewrites it. The no-endpoint checks
// run after DNAT — input and forward come after prerouting anyway, and
// locally sent packets get a filter chain at priority 0, after nat output —
// because they must only catch what was not DNATed: under a Local policy
// without local endpoints pods and the node are still DNATed to cluster
// endpoints. They also sit there because reject is only guaranteed in
// input, forward and output (older kernels refuse it in prerouting).
const (
	priorityFilter  = "-110" // dstnat - 10
	priorityPostNAT = "0"    // filter
	priorityDNAT    = "-100" // dstnat
	prioritySrcNAT  = "100"  // srcnat
	ruleDestination = " daddr . meta l4proto . th dport"
)

// addBaseChains adds the hooked chains and the fixed rules in them. Each
// hook has one rule or a few: everything per Service lives in maps.
func (r *renderer) addBaseChains() {
	r.addBaseChain(chainFilterPrerouting, knftables.FilterType, knftables.PreroutingHook, priorityFilter)
	r.addBaseChain(chainFilterInput, knftables.FilterType, knftables.InputHook, priorityFilter)
	r.addBaseChain(chainFilterForward, knftables.FilterType, knftables.ForwardHook, priorityFilter)
	r.addBaseChain(chainFilterOutput, knftables.FilterType, knftables.OutputHook, priorityFilter)
	r.addBaseChain(chainFilterOutputNAT, knftables.FilterType, knftables.OutputHook, priorityPostNAT)
	r.addBaseChain(chainNATPrerouting, knftables.NATType, knftables.PreroutingHook, priorityDNAT)
	r.addBaseChain(chainNATOutput, knftables.NATType, knftables.OutputHook, priorityDNAT)
	r.addBaseChain(chainNATPostrouting, knftables.NATType, knftables.PostroutingHook, prioritySrcNAT)

	dst := r.syn.ip + ruleDestination
	firewall := "ct state new " + dst + " vmap @" + mapFirewallIPs
	noEndpoints := "ct state new " + dst + " vmap @" + mapNoEndpointServices
	noNodePort := "ct state new " + r.nodePortMatch() + " meta l4proto . th dport vmap @" + mapNoEndpointNodePorts

	r.rule(chainFilterPrerouting, firewall, "load balancer source ranges")
	r.rule(chainFilterOutput, firewall, "load balancer source ranges")
	// A Service without endpoints is refused wherever its packets go:
	// forward for cluster IPs, input for external IPs owned by the node
	// and NodePorts, output for the node's own connections.
	for _, c := range []string{chainFilterInput, chainFilterForward, chainFilterOutputNAT} {
		r.rule(c, noEndpoints, "services without endpoints")
	}
	r.rule(chainFilterInput, noNodePort, "nodeports without endpoints")
	r.rule(chainFilterOutputNAT, noNodePort, "nodeports without endpoints")
	// What is still addressed to a cluster IP after DNAT is for a port
	// the Service does not have: refused, as kube-proxy's nftables mode
	// refuses it, rather than routed out of the node.
	unknownPort := "ct state new " + r.syn.ip + " daddr @" + setClusterIPs + " reject"
	unallocated := r.unallocatedClusterIPs()
	for _, c := range []string{chainFilterForward, chainFilterOutputNAT} {
		r.rule(c, unknownPort, "cluster IP ports that do not exist")
		if unallocated != "" {
			r.rule(c, unallocated, "cluster IPs no Service holds")
		}
	}

	r.rule(chainNATPrerouting, "jump "+chainServices, "service dispatch")
	r.rule(chainNATOutput, "jump "+chainServices, "service dispatch")
	r.rule(chainNATPostrouting, "jump "+chainMasquerading, "masquerade marked and hairpin traffic")
	r.addFixedChains(dst)
}

// unallocatedClusterIPs returns the rule that drops new traffic still
// addressed to the ServiceCIDRs after DNAT, as kube-proxy's nftables
// mode drops it: no Service holds such an address, and it would
// otherwise be routed out of the node. "" when there are none.
func (r *renderer) unallocatedClusterIPs() string {
	if len(r.m.ServiceCIDRs) == 0 {
		return ""
	}
	cidrs := make([]string, len(r.m.ServiceCIDRs))
	for i, p := range r.m.ServiceCIDRs {
		cidrs[i] = p.String()
	}
	return "ct state new " + r.syn.ip + " daddr { " + strings.Join(cidrs, ", ") + " } drop"
}

// addFixedChains adds the regular chains every table has.
func (r *renderer) addFixedChains(dst string) {
	mark := r.m.Config.MasqueradeMarkHex()
	r.ensureChain(chainServices, func() {
		r.rule(chainServices, dst+" vmap @"+mapServiceIPs, "cluster, external and load balancer IPs")
		// NodePorts last: a Service IP that is also a node address must
		// reach its Service, not a NodePort of the same number.
		r.rule(chainServices, r.nodePortMatch()+" meta l4proto . th dport vmap @"+mapServiceNodePorts, "nodeports")
	})
	r.ensureChain(chainMark, func() {
		r.rule(chainMark, "meta mark set meta mark or "+mark, "mark for masquerade")
	})
	r.ensureChain(chainReject, func() {
		r.rule(chainReject, "reject", "service has no endpoints")
	})
	r.ensureChain(chainMasquerading, func() {
		// Clearing the mark keeps a packet that is routed again (into
		// a tunnel, say) from being masqueraded a second time.
		r.rule(chainMasquerading, "meta mark & "+mark+" == "+mark+" meta mark set meta mark xor "+mark+
			" masquerade fully-random", "masquerade marked traffic")
		// A pod reaching itself through a Service would otherwise get
		// the reply from its own address and drop it.
		r.rule(chainMasquerading, "ct status dnat "+r.syn.ip+" saddr . "+r.syn.ip+" daddr @"+setHairpin+
			" masquerade fully-random", "hairpin")
	})
}

// NodePortStyle is how these rules read NodePortAddresses, as
// kube-proxy's nftables mode does: the primary address by default, never
// a loopback address.
var NodePortStyle = model.NodePortStyle{PrimaryByDefault: true}

// nodePortMatch matches packets addressed to a NodePort address: those
// in the nodeport-ips set, which by default, as in kube-proxy's nftables
// mode, holds the node's primary address, or any local address but
// loopback where NodePortAddresses admits every address.
func (r *renderer) nodePortMatch() string {
	if _, all := r.m.NodePortIPs(NodePortStyle); !all {
		return r.syn.ip + " daddr @" + setNodePortIPs
	}
	return "fib daddr type local " + r.syn.ip + " daddr != " + r.syn.loopback
}

// addSharedObjects adds the sets and maps every table has, with the
// elements that do not depend on Services.
func (r *renderer) addSharedObjects() {
	dstType := r.syn.addrType + " . inet_proto . inet_service"
	for _, name := range []string{mapServiceIPs, mapFirewallIPs, mapNoEndpointServices} {
		r.addMap(&knftables.Map{Name: name, Type: dstType + " : verdict"})
	}
	for _, name := range []string{mapServiceNodePorts, mapNoEndpointNodePorts} {
		r.addMap(&knftables.Map{Name: name, Type: "inet_proto . inet_service : verdict"})
	}
	// auto-merge because a cluster CIDR may lie inside another, and an
	// interval set refuses overlapping elements otherwise.
	r.addSet(&knftables.Set{Name: setClusterCIDRs, Type: r.syn.addrType,
		Flags: []knftables.SetFlag{knftables.IntervalFlag}, AutoMerge: knftables.PtrTo(true)})
	r.addSet(&knftables.Set{Name: setNodePortIPs, Type: r.syn.addrType})
	r.addSet(&knftables.Set{Name: setHairpin, Type: r.syn.addrType + " . " + r.syn.addrType})
	r.addSet(&knftables.Set{Name: setClusterIPs, Type: r.syn.addrType})
	for _, p := range r.m.Config.ClusterCIDRs {
		r.setElement(setClusterCIDRs, p.String())
	}
	ips, _ := r.m.NodePortIPs(NodePortStyle)
	for _, ip := range ips {
		r.setElement(setNodePortIPs, ip.String())
	}
}

// sharedSet is a set whose elements several Service ports may
// contribute, each an address: an incremental sync adds an element when
// its first contributor comes and deletes it when its last goes.
type sharedSet struct {
	name string
	// add appends the element of an address to a list.
	add func(l *elementList, ip netip.Addr)
}

// sharedSets are the hairpin set (an endpoint's address, from every port
// it serves) and the cluster IPs (a Service's, from each of its ports).
var sharedSets = []sharedSet{
	{setClusterIPs, (*elementList).addAddr},
	{setHairpin, (*elementList).addPair},
}

// finish adds what needs every Service seen: the shared sets. It sorts
// their addresses in place.
func (r *renderer) finish() {
	for _, s := range sharedSets {
		ips := r.shared[s.name]
		sortAddrs(ips)
		l := r.list(s.name)
		for i, ip := range ips {
			if i > 0 && ips[i-1] == ip {
				continue
			}
			s.add(l, ip)
		}
		if l.len() == 0 {
			delete(r.elements, s.name)
		}
	}
}
