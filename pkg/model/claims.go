package model

import (
	"fmt"
	"iter"
	"net/netip"
	"slices"
)

// claimKind is how a Service port is reached at a destination. When two
// ports claim one destination the lower kind wins: a cluster IP is never
// taken over by another Service's external IP (the CVE-2020-8554 attack
// turned on another Service), and between claims of one kind the first
// port in namespace/name order wins. Resolving this in the model, not in
// each renderer, is what keeps the backends from disagreeing: nftables
// dispatches on the first claim, iptables on the first rule its nat
// table matches, which need not be the same one.
type claimKind uint8

const (
	clusterClaim claimKind = iota
	// externalClaim covers external and load balancer IPs alike: both
	// are addresses outside the cluster that users choose.
	externalClaim
	nodePortClaim
)

// destination is what a rule matches a new connection by. A node port
// has no address (every node address takes it) but is per family, as the
// rules are.
type destination struct {
	fam   Family
	addr  netip.Addr
	proto Protocol
	port  uint16
}

// String returns "ADDR:PORT/PROTO", or "node port PORT/PROTO".
func (d destination) String() string {
	if !d.addr.IsValid() {
		return fmt.Sprintf("node port %d/%s", d.port, d.proto)
	}
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(d.addr, d.port), d.proto)
}

// claim is one destination a port is reached at.
type claim struct {
	dest destination
	kind claimKind
}

// claims returns every destination sp of family fam is reached at.
func (sp *ServicePort) claims(fam Family) iter.Seq[claim] {
	return func(yield func(claim) bool) {
		dest := func(addr netip.Addr, port uint16) destination {
			return destination{fam: fam, addr: addr, proto: sp.Name.Protocol, port: port}
		}
		if !yield(sp.clusterClaim(fam)) {
			return
		}
		// Two loops, not one over a concatenation: claims run for every
		// port of every Build, and a copy per port showed.
		for _, ips := range [2][]netip.Addr{sp.ExternalIPs, sp.LoadBalancerIPs} {
			for _, ip := range ips {
				if !yield(claim{dest(ip, sp.Port), externalClaim}) {
					return
				}
			}
		}
		if sp.NodePort != 0 {
			yield(claim{dest(netip.Addr{}, sp.NodePort), nodePortClaim})
		}
	}
}

// claimCounts counts how many claims each destination has, across every
// unit, so that assembling a Model looks for contests only when there is
// one: at 10,000 Services none usually is.
type claimCounts struct {
	counts    map[destination]int32
	contested int
}

// add counts the claims of u's ports, or takes them back when delta is -1.
func (c *claimCounts) add(u *unit, delta int32) {
	if c.counts == nil {
		c.counts = map[destination]int32{}
	}
	for i, ports := range u.ports {
		fam := Families[i]
		for _, sp := range ports {
			for cl := range sp.claims(fam) {
				c.bump(cl.dest, delta)
			}
		}
	}
}

func (c *claimCounts) bump(d destination, delta int32) {
	before := c.counts[d]
	after := before + delta
	switch {
	case before <= 1 && after > 1:
		c.contested++
	case before > 1 && after <= 1:
		c.contested--
	}
	if after == 0 {
		delete(c.counts, d)
		return
	}
	c.counts[d] = after
}

// winner is the claim a contested destination goes to: its kind, and
// the index of its port.
type winner struct {
	kind claimKind
	port int
}

// resolve returns ports with every contested destination left only to
// the claim that wins it (see claimKind), and a warning for each claim
// lost, naming the port that won it. A port that loses its cluster IP
// is skipped whole; one that loses an external IP or its node port keeps
// the rest. Ports that lose nothing keep their pointers.
func (c *claimCounts) resolve(fam Family, ports []*ServicePort, warn *warnings) []*ServicePort {
	if c.contested == 0 {
		return ports
	}
	wins := map[destination]winner{}
	skipped := make([]bool, len(ports))
	// Cluster IPs first, so that a port skipped for its cluster IP takes
	// no external IP from another.
	c.elect(fam, ports, skipped, wins, true)
	for i, sp := range ports {
		cl := sp.clusterClaim(fam)
		if w, ok := wins[cl.dest]; ok && w.port != i {
			skipped[i] = true
			warn.add("Service", serviceID(sp), "port %q skipped: %s is %s", sp.Name.Port, cl, describe(ports, w))
		}
	}
	c.elect(fam, ports, skipped, wins, false)
	out := make([]*ServicePort, 0, len(ports))
	for i, sp := range ports {
		if skipped[i] {
			continue
		}
		out = append(out, withoutLost(fam, sp, func(cl claim) bool {
			w, ok := wins[cl.dest]
			if !ok || (w.port == i && w.kind == cl.kind) {
				return false
			}
			warn.add("Service", serviceID(sp), "port %q: %s skipped: it is %s", sp.Name.Port, cl, describe(ports, w))
			return true
		}))
	}
	return out
}

// elect records, for each contested destination, the winning claim among
// the ports not skipped: of their cluster IPs, or of their other claims.
func (c *claimCounts) elect(fam Family, ports []*ServicePort, skipped []bool, wins map[destination]winner, cluster bool) {
	for i, sp := range ports {
		if skipped[i] {
			continue
		}
		for cl := range sp.claims(fam) {
			if (cl.kind == clusterClaim) != cluster || c.counts[cl.dest] < 2 {
				continue
			}
			if w, ok := wins[cl.dest]; !ok || cl.kind < w.kind {
				wins[cl.dest] = winner{kind: cl.kind, port: i}
			}
		}
	}
}

func (sp *ServicePort) clusterClaim(fam Family) claim {
	return claim{destination{fam, sp.ClusterIP, sp.Name.Protocol, sp.Port}, clusterClaim}
}

// String names the claim in a warning: "cluster IP 10.96.0.10:80/tcp".
func (cl claim) String() string {
	switch cl.kind {
	case clusterClaim:
		return "cluster IP " + cl.dest.String()
	case externalClaim:
		return "external IP " + cl.dest.String()
	}
	return cl.dest.String()
}

// describe names a winning claim: "the cluster IP of Service port
// demo/web:http".
func describe(ports []*ServicePort, w winner) string {
	kind := map[claimKind]string{clusterClaim: "cluster IP", externalClaim: "external IP", nodePortClaim: "node port"}[w.kind]
	return fmt.Sprintf("the %s of Service port %s", kind, ports[w.port].Name)
}

func serviceID(sp *ServicePort) string {
	return sp.Name.Namespace + "/" + sp.Name.Name
}

// withoutLost returns sp without the external IPs and node port for
// which lose is true, or sp itself when it loses none.
func withoutLost(fam Family, sp *ServicePort, lose func(claim) bool) *ServicePort {
	var cp *ServicePort
	for cl := range sp.claims(fam) {
		if cl.kind == clusterClaim || !lose(cl) {
			continue
		}
		if cp == nil {
			c := *sp
			c.ExternalIPs, c.LoadBalancerIPs = slices.Clone(sp.ExternalIPs), slices.Clone(sp.LoadBalancerIPs)
			cp = &c
		}
		if cl.kind == nodePortClaim {
			cp.NodePort = 0
			continue
		}
		cp.ExternalIPs = slices.DeleteFunc(cp.ExternalIPs, func(a netip.Addr) bool { return a == cl.dest.addr })
		cp.LoadBalancerIPs = slices.DeleteFunc(cp.LoadBalancerIPs, func(a netip.Addr) bool { return a == cl.dest.addr })
	}
	if cp == nil {
		return sp
	}
	return cp
}

// checkAddresses holds the Service's addresses against this node and
// the configuration, and reports whether any cluster IP is left:
//   - a cluster IP that is one of the node's addresses is skipped: its
//     rules would take the node's own traffic to that port, and the API
//     server never allocates one;
//   - with ExternalIPCIDRs set, external and load balancer IPs outside
//     them are skipped (the CVE-2020-8554 mitigation kube-proxy leaves to
//     an admission controller);
//   - an external or load balancer IP that is the node's is kept, with a
//     warning: pointing an external IP at a node is how some clusters
//     publish a Service, but its port is then the Service's, not the
//     host's.
func (svc *service) checkAddresses(cfg Config, node Node, warn *warnings) bool {
	id := svc.namespace + "/" + svc.name
	nodeIP := func(a netip.Addr) bool { return slices.Contains(node.IPs, a) || slices.Contains(node.LocalIPs, a) }
	svc.clusterIPs = slices.DeleteFunc(svc.clusterIPs, func(a netip.Addr) bool {
		if nodeIP(a) {
			warn.add("Service", id, "cluster IP %s skipped: it is an address of this node", a)
			return true
		}
		return false
	})
	if len(svc.clusterIPs) == 0 {
		warn.add("Service", id, "skipped: no valid cluster IP")
		return false
	}
	check := func(field string) func(netip.Addr) bool {
		return func(a netip.Addr) bool {
			if len(cfg.ExternalIPCIDRs) > 0 && !slices.ContainsFunc(cfg.ExternalIPCIDRs, func(p netip.Prefix) bool { return p.Contains(a) }) {
				warn.add("Service", id, "%s entry %s skipped: it is outside --external-ip-cidrs", field, a)
				return true
			}
			if nodeIP(a) {
				warn.add("Service", id, "%s entry %s is an address of this node: the Service's ports there are no longer the host's", field, a)
			}
			return false
		}
	}
	svc.externalIPs = slices.DeleteFunc(svc.externalIPs, check("spec.externalIPs"))
	svc.lbIPs = slices.DeleteFunc(svc.lbIPs, check("status.loadBalancer.ingress"))
	return true
}
