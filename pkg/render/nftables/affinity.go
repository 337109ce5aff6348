package nftables

import (
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Session affinity needs state per endpoint (who connected to it, until
// when), so unlike everything else it is rendered per Service: a chain
// per endpoint that records the client in the endpoint's set and DNATs,
// and a chain per endpoint list that sends a remembered client back to
// its endpoint and picks at random otherwise. Affinity is rare, so these
// chains stay off the common path.

// affinityChain returns the chain choosing among the cluster endpoints
// (or the local ones) of sp with affinity, creating it on first use.
func (r *renderer) affinityChain(sp *model.ServicePort, local bool) string {
	name, eps := "affinity-"+sp.Hash, sp.ClusterEndpoints
	if local {
		name, eps = "affinity-local-"+sp.Hash, sp.LocalEndpoints
	}
	svc := sp.Name.String()
	return r.ensureChain(name, func() {
		branches := make([]string, len(eps))
		for i, ep := range eps {
			sep := r.endpointChain(sp, ep)
			r.rule(name, r.syn.ip+" saddr @"+stickySet(ep)+" goto "+sep, join(svc, "returning client of "+ep.String()))
			branches[i] = strconv.Itoa(i) + " : goto " + sep
		}
		// " , " rather than ", ": nft reads both, and with spaces every
		// chain name stands alone, so readers that split the text into
		// words (the behaviour tests' loader) never take "chain," for one.
		r.rule(name, "numgen random mod "+strconv.Itoa(len(eps))+" vmap { "+strings.Join(branches, " , ")+" }",
			join(svc, "new client"))
	})
}

// stickySet names the set of clients recently sent to ep.
func stickySet(ep model.Endpoint) string { return "sticky-" + ep.Hash }

// endpointChain returns the chain that remembers the client and DNATs to
// ep. The timeout is given on the update rather than on the set so that a
// changed timeout never conflicts with the set already in the kernel.
func (r *renderer) endpointChain(sp *model.ServicePort, ep model.Endpoint) string {
	name := "endpoint-" + ep.Hash
	return r.ensureChain(name, func() {
		r.addSet(&knftables.Set{
			Name:  stickySet(ep),
			Type:  r.syn.addrType,
			Flags: []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
		})
		svc := sp.Name.String()
		timeout := strconv.Itoa(int(sp.AffinitySeconds)) + "s"
		r.rule(name, "update @"+stickySet(ep)+" { "+r.syn.ip+" saddr timeout "+timeout+" }",
			join(svc, "remember client for session affinity"))
		// nft needs the protocol matched before a DNAT with a port.
		r.rule(name, "meta l4proto "+string(sp.Name.Protocol)+" dnat "+r.syn.ip+" to "+ep.String(),
			join(svc, "endpoint "+ep.String()))
	})
}

// affinityExternalChain returns the per-Service chain for external traffic
// of sp with affinity; NodePorts share it, as the endpoint chains DNAT to
// fixed addresses whatever the destination was.
func (r *renderer) affinityExternalChain(sp *model.ServicePort) string {
	name, svc := "external-"+sp.Hash, sp.Name.String()
	if !sp.ExternalPolicyLocal {
		return r.externalChain(name, r.affinityChain(sp, false), svc)
	}
	cluster, local := "", ""
	if len(sp.ClusterEndpoints) > 0 {
		cluster = r.affinityChain(sp, false)
	}
	if len(sp.LocalEndpoints) > 0 {
		local = r.affinityChain(sp, true)
	}
	return r.localChain(name, cluster, local, svc)
}
