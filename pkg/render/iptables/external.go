package iptables

import (
	"net/netip"
	"slices"
)

// externalDestinations renders the rules that catch traffic to external
// IPs and load balancer IPs.
func (b *builder) externalDestinations(s *serviceInfo) {
	for _, ip := range s.sp.ExternalIPs {
		b.externalIP(s, ip, " external IP", s.ext)
	}
	lbTarget := s.ext
	if s.hasFW {
		lbTarget = s.fw
	}
	for _, ip := range s.sp.LoadBalancerIPs {
		b.externalIP(s, ip, " loadbalancer IP", lbTarget)
		if s.hasFW {
			// Traffic the FW chain accepted was DNATed away from the
			// load balancer IP, so whatever still targets it in filter
			// was refused by the source ranges.
			b.filterFirewall = append(b.filterFirewall,
				comment(s.name+" traffic not accepted by "+s.fw)+" "+s.proto+" -d "+ip.String()+" --dport "+s.port+" -j DROP")
		}
	}
}

// externalIP sends traffic to one external destination to target and,
// when external traffic has no endpoints, refuses in filter
// KUBE-EXTERNAL-SERVICES whatever target did not DNAT.
func (b *builder) externalIP(s *serviceInfo, ip netip.Addr, what, target string) {
	dst := s.proto + " -d " + ip.String() + " --dport " + s.port
	if s.hasEXT {
		b.natServices = append(b.natServices, comment(s.name+what)+" "+dst+" -j "+target)
	}
	if !s.hasExtEndpoints {
		why, verdict := s.refusal()
		b.filterExternal = append(b.filterExternal, comment(s.name+why)+" "+dst+" -j "+verdict)
	}
}

// externalChain renders KUBE-EXT-, where all external traffic goes.
func (b *builder) externalChain(s *serviceInfo) Chain {
	if !s.sp.ExternalPolicyLocal {
		// The endpoint may be on another node, whose reply must come back
		// through this one to be un-DNATed.
		return Chain{Name: s.ext, Rules: []string{
			comment("masquerade traffic for "+s.name+" external destinations") + " -j " + chainMarkMasq,
			comment(s.name+" external destinations") + " -j " + s.svc,
		}}
	}
	pods := b.podSources()
	rules := make([]string, 0, len(pods)+3)
	if s.hasSVC {
		// Pods reaching an external destination are treated as if they
		// had gone out to the load balancer and come back: no traffic
		// policy applies, and their source is kept.
		for _, p := range pods {
			rules = append(rules, comment("pod traffic for "+s.name+" external destinations")+" "+p+" -j "+s.svc)
		}
	}
	// Traffic from the node itself must be masqueraded: its source would
	// otherwise be the external IP itself, which the endpoint cannot reply
	// to. It needs no source preserved, so it may use any endpoint.
	rules = append(rules, comment("masquerade LOCAL traffic for "+s.name+" external destinations")+" -m addrtype --src-type LOCAL -j "+chainMarkMasq)
	if s.hasSVC {
		rules = append(rules, comment("route LOCAL traffic for "+s.name+" external destinations")+" -m addrtype --src-type LOCAL -j "+s.svc)
	}
	if s.hasExtEndpoints {
		rules = append(rules, comment(s.name+" external destinations")+" -j "+s.svl)
	}
	return Chain{Name: s.ext, Rules: rules}
}

// firewallChain renders KUBE-FW-, which lets load balancer traffic from
// the source ranges on to KUBE-EXT- and leaves the rest unDNATed for
// KUBE-PROXY-FIREWALL to drop.
func (b *builder) firewallChain(s *serviceInfo) Chain {
	sp := s.sp
	rules := make([]string, 0, len(sp.SourceRanges)+len(sp.LoadBalancerIPs)+1)
	allowed := comment(s.name+" loadbalancer IP") + " -s "
	for _, r := range sp.SourceRanges {
		rules = append(rules, allowed+r.String()+" -j "+s.ext)
	}
	// A node that reaches its own load balancer IP sends from that IP, not
	// from its node address; if the node is allowed, so is the VIP.
	if slices.ContainsFunc(b.m.Node.IPs, func(ip netip.Addr) bool { return inAny(ip, sp.SourceRanges) }) {
		for _, ip := range sp.LoadBalancerIPs {
			rules = append(rules, allowed+ip.String()+" -j "+s.ext)
		}
	}
	rules = append(rules, comment("other traffic to "+s.name+" will be dropped by "+chainProxyFirewall))
	return Chain{Name: s.fw, Rules: rules}
}

// inAny reports whether ip is in one of prefixes.
func inAny(ip netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
