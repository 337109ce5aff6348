package nftables

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// addServicePort dispatches every destination of sp: its cluster IP, its
// external and load balancer IPs and its NodePort.
func (r *renderer) addServicePort(sp *model.ServicePort) {
	// The hairpin set wants the address of every endpoint that can be its
	// own client; duplicates between the two lists go when the set is
	// built. (AllEndpoints would merge them here at the cost of a map per
	// port.)
	if sp.UsesClusterEndpoints() {
		r.addHairpinCandidates(sp, sp.ClusterEndpoints)
	}
	if sp.UsesLocalEndpoints() {
		r.addHairpinCandidates(sp, sp.LocalEndpoints)
	}
	r.addClusterIP(sp)
	for _, ip := range sp.ExternalIPs {
		r.addExternalIP(sp, ip, false)
	}
	for _, ip := range sp.LoadBalancerIPs {
		r.addExternalIP(sp, ip, true)
	}
	if sp.NodePort != 0 {
		r.addNodePort(sp)
	}
}

// addHairpinCandidates collects the addresses of the endpoints of sp
// that can be their own clients through this node's rules
// (model.Model.MayHairpin). With endpoints spread over nodes, this keeps
// the hairpin set at a node's own pods, and the endpoints of ports with a
// Local external policy, instead of every endpoint of the cluster: at
// 10,000 Services × 10 endpoints, 10,000 elements instead of 100,000.
func (r *renderer) addHairpinCandidates(sp *model.ServicePort, eps []model.Endpoint) {
	for _, ep := range eps {
		if r.m.MayHairpin(sp, ep) {
			r.shared[setHairpin] = append(r.shared[setHairpin], ep.IP)
		}
	}
}

// destKey is the element key of an address, protocol and port.
func destKey(ip netip.Addr, proto model.Protocol, port uint16) string {
	b := make([]byte, 0, len("0000:0000:0000:0000:0000:0000:0000:0000 . sctp . 65535"))
	b = ip.AppendTo(b)
	b = append(b, " . "...)
	b = append(b, proto...)
	b = append(b, " . "...)
	return string(strconv.AppendUint(b, uint64(port), 10))
}

func (r *renderer) addClusterIP(sp *model.ServicePort) {
	// Every port of a Service contributes its cluster IP: the set must
	// hold it as long as any port is left.
	r.shared[setClusterIPs] = append(r.shared[setClusterIPs], sp.ClusterIP)
	key := destKey(sp.ClusterIP, sp.Name.Protocol, sp.Port)
	if !r.claim(key) {
		return
	}
	eps := sp.InternalEndpoints()
	if len(eps) == 0 {
		r.portElement(mapNoEndpointServices, sp, key, noEndpointVerdict(sp))
		return
	}
	var target string
	if sp.AffinitySeconds > 0 {
		target = r.clusterChain("service-"+sp.Hash, r.affinityChain(sp, sp.InternalPolicyLocal), sp.Name.String())
	} else {
		p := pick{proto: sp.Name.Protocol, local: sp.InternalPolicyLocal, n: len(eps)}
		r.addSelections(p, key, eps)
		target = r.clusterChain("cluster-"+p.suffix(), r.dnatChain(p), "")
	}
	r.portElement(mapServiceIPs, sp, key, "goto "+target)
}

func (r *renderer) addExternalIP(sp *model.ServicePort, ip netip.Addr, loadBalancer bool) {
	key := destKey(ip, sp.Name.Protocol, sp.Port)
	if !r.claim(key) {
		return
	}
	if loadBalancer && sp.Firewall {
		r.portElement(mapFirewallIPs, sp, key, "jump "+r.firewallChain(sp))
	}
	r.addExternal(sp, mapServiceIPs, mapNoEndpointServices, key, false)
}

// addExternal dispatches one external destination. As long as the port
// has any endpoint, its traffic goes through the external chain, where
// pods and the node itself may short-circuit to the cluster endpoints
// even under a Local policy without local endpoints; what that chain
// leaves unDNATed keeps its destination and is refused after NAT by the
// no-endpoint map, as kube-proxy does it.
func (r *renderer) addExternal(sp *model.ServicePort, dispatch, noEndpoints string, key string, nodePort bool) {
	if sp.HasEndpoints {
		r.portElement(dispatch, sp, key, "goto "+r.externalTarget(sp, nodePort, key))
	}
	if len(sp.ExternalEndpoints()) == 0 {
		r.portElement(noEndpoints, sp, key, noEndpointVerdict(sp))
	}
}

func (r *renderer) addNodePort(sp *model.ServicePort) {
	// "proto . port" never equals an address key, so NodePorts and
	// addresses share one claim namespace.
	key := string(sp.Name.Protocol) + " . " + strconv.Itoa(int(sp.NodePort))
	if !r.claim(key) {
		return
	}
	r.addExternal(sp, mapServiceNodePorts, mapNoEndpointNodePorts, key, true)
}

// noEndpointVerdict rejects traffic to a Service with no endpoints at all,
// so clients fail fast, and drops it when endpoints exist but none may
// take this traffic (a Local policy on a node without local endpoints):
// that is what a client would see from a node not running the Service.
func noEndpointVerdict(sp *model.ServicePort) string {
	if !sp.HasEndpoints {
		return "goto " + chainReject
	}
	return "drop"
}

// externalTarget returns the chain external traffic to key goes to.
func (r *renderer) externalTarget(sp *model.ServicePort, nodePort bool, key string) string {
	if sp.AffinitySeconds > 0 {
		return r.affinityExternalChain(sp)
	}
	cluster := pick{proto: sp.Name.Protocol, nodePort: nodePort, n: len(sp.ClusterEndpoints)}
	if !sp.ExternalPolicyLocal {
		r.addSelections(cluster, key, sp.ClusterEndpoints)
		return r.externalChain(cluster.prefix()+"external-"+cluster.suffix(), r.dnatChain(cluster), "")
	}
	local := pick{proto: sp.Name.Protocol, nodePort: nodePort, local: true, n: len(sp.LocalEndpoints)}
	clusterDNAT, localDNAT := "", ""
	if local.n > 0 {
		r.addSelections(local, key, sp.LocalEndpoints)
		localDNAT = r.dnatChain(local)
	}
	if cluster.n > 0 {
		r.addSelections(cluster, key, sp.ClusterEndpoints)
		clusterDNAT = r.dnatChain(cluster)
	}
	name := cluster.prefix() + "external-local-" + string(sp.Name.Protocol) + "-" + strconv.Itoa(cluster.n) + "-" + strconv.Itoa(local.n)
	return r.localChain(name, clusterDNAT, localDNAT, "")
}

// podMatch returns the match of pod traffic, by its source in the
// cluster-cidrs set or by the pods' interface, with op "" or "!=" for the
// rest. Only where Config.TellsPods.
func (r *renderer) podMatch(op string) string {
	if op != "" {
		op += " "
	}
	cfg := r.m.Config
	if cfg.PodInterface == "" {
		return r.syn.ip + " saddr " + op + "@" + setClusterCIDRs
	}
	name := cfg.PodInterface
	if cfg.PodInterfacePrefix {
		name += "*"
	}
	return "iifname " + op + `"` + name + `"`
}

// clusterChain returns a chain that marks cluster IP traffic for
// masquerade when the configuration asks for it and goes on to next; when
// nothing is ever marked it returns next itself, saving a chain.
func (r *renderer) clusterChain(name, next, comment string) string {
	var match string
	switch {
	case r.m.Config.MasqueradeAll:
		match = ""
	case r.m.Config.TellsPods():
		match = r.podMatch("!=") + " "
	default:
		return next
	}
	return r.ensureChain(name, func() {
		r.rule(name, match+"jump "+chainMark, join(comment, "masquerade traffic from outside the cluster"))
		r.rule(name, "goto "+next, join(comment, "choose an endpoint"))
	})
}

// externalChain returns a chain that masquerades all traffic and goes on
// to next: under the Cluster policy external traffic may leave for
// another node, and the reply must come back through this one.
func (r *renderer) externalChain(name, next, comment string) string {
	return r.ensureChain(name, func() {
		r.rule(name, "jump "+chainMark, join(comment, "masquerade external traffic"))
		r.rule(name, "goto "+next, join(comment, "choose an endpoint"))
	})
}

// localChain returns the chain of the Local external policy: pods and
// the node itself reach the Service through its cluster endpoints (pods
// unmasqueraded, the node masqueraded), everyone else reaches local
// endpoints with the client address kept. clusterNext is empty when the
// port has no cluster endpoints; those short-cuts are then left out.
// localNext is empty when there is no local endpoint: external traffic
// then falls through unDNATed, to be dropped after NAT.
func (r *renderer) localChain(name, clusterNext, localNext, comment string) string {
	return r.ensureChain(name, func() {
		if clusterNext != "" {
			if r.m.Config.TellsPods() {
				r.rule(name, r.podMatch("")+" goto "+clusterNext, join(comment, "pod traffic to cluster endpoints"))
			}
			r.rule(name, "fib saddr type local jump "+chainMark, join(comment, "masquerade node traffic"))
			r.rule(name, "fib saddr type local goto "+clusterNext, join(comment, "node traffic to cluster endpoints"))
		}
		if localNext != "" {
			r.rule(name, "goto "+localNext, join(comment, "external traffic to local endpoints"))
		}
	})
}

// join joins comment parts with ": ", skipping empty ones.
func join(parts ...string) string {
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += ": "
		}
		out += p
	}
	return out
}
