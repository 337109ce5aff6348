package iptables

// Masquerading is decided in two steps, as in kube-proxy: rules in the
// service chains mark a packet (KUBE-MARK-MASQ), and KUBE-POSTROUTING
// masquerades marked packets. The decision has to be made where the
// service is recognised, before DNAT rewrites the destination, but SNAT can
// only happen in POSTROUTING; the mark carries the decision across.

// markMasqRules fills KUBE-MARK-MASQ.
func (b *builder) markMasqRules() []string {
	return []string{
		comment("mark traffic for masquerade") + " -j MARK --or-mark " + b.mark,
	}
}

// postroutingRules fills KUBE-POSTROUTING.
func (b *builder) postroutingRules() []string {
	return []string{
		comment("leave traffic not marked for masquerade") + " -m mark ! --mark " + b.markMask + " -j RETURN",
		// The mark is cleared so that a packet that traverses the
		// stack again (e.g. after encapsulation) is not masqueraded twice.
		comment("clear the masquerade mark") + " -j MARK --xor-mark " + b.mark,
		comment("kubernetes service traffic requiring SNAT") + " -j MASQUERADE --random-fully",
	}
}

// podSources returns the matches that tell pod traffic, one per pod
// network or the pods' interface, or none when it cannot be told
// (model.Config.TellsPods).
func (b *builder) podSources() []string {
	cfg := b.m.Config
	if cfg.PodInterface != "" {
		name := cfg.PodInterface
		if cfg.PodInterfacePrefix {
			name += "+"
		}
		return []string{"-i " + name}
	}
	out := make([]string, len(cfg.ClusterCIDRs))
	for i, c := range cfg.ClusterCIDRs {
		out[i] = "-s " + c.String()
	}
	return out
}

// markMasqNonPodRules fills KUBE-MARK-MASQ-NON-POD, or returns nil when it
// is not needed. "! -s CIDR" can name only one CIDR, and a chain of
// "! -s" rules would mark pod traffic from the second CIDR as outside the
// first. So with several cluster CIDRs the cluster IP rules jump to this
// one shared chain, which returns for pod sources and marks the rest: one
// chain per ruleset, not per service, and one extra jump per connection.
func (b *builder) markMasqNonPodRules() []string {
	pods := b.podSources()
	if b.m.Config.MasqueradeAll || len(pods) < 2 {
		return nil
	}
	rules := make([]string, 0, len(pods)+1)
	for _, p := range pods {
		rules = append(rules, comment("pod traffic is not masqueraded")+" "+p+" -j RETURN")
	}
	return append(rules, comment("masquerade traffic from outside the cluster CIDRs")+" -j "+chainMarkMasq)
}

// clusterIPMasqRule returns the rule that heads the internal traffic chain
// and marks cluster IP traffic for masquerade, or "" if none is needed.
// Traffic from outside the pod network is masqueraded so that replies come
// back through this node and are un-DNATed: without it a client that
// routes the service range to any node would get replies straight from
// the pod. The rule matches the cluster IP because the same chain also
// serves external traffic, which the EXT chain has already handled.
func (b *builder) clusterIPMasqRule(s *serviceInfo) string {
	dst := b.scaledComment(s.name+" cluster IP") + s.proto + " -d " + s.sp.ClusterIP.String() + " --dport " + s.port
	pods := b.podSources()
	switch {
	case b.m.Config.MasqueradeAll:
		return dst + " -j " + chainMarkMasq
	case len(pods) == 1:
		return dst + " ! " + pods[0] + " -j " + chainMarkMasq
	case len(pods) > 1:
		return dst + " -j " + chainMarkMasqNonPod
	}
	// Without cluster CIDRs pod traffic cannot be told from the rest, and
	// masquerading pod traffic would hide client addresses from every
	// service; like kube-proxy without --cluster-cidr, keep the source.
	return ""
}

// forwardRules fills filter KUBE-FORWARD. A host whose FORWARD policy is
// DROP would otherwise drop service traffic DNATed to a pod on another
// node, and its replies. Packets conntrack finds INVALID go first, as
// kube-proxy drops them: a DNATed connection's out-of-window packet would
// otherwise reach the pod un-NATed and have it reset the connection
// (kubernetes#74839), unless the node's conntrack is liberal.
func (b *builder) forwardRules() []string {
	rules := make([]string, 0, 3)
	if !b.m.Config.TCPBeLiberal {
		rules = append(rules, "-m conntrack --ctstate INVALID"+b.count(NFAcctInvalidDropped)+" -j DROP")
	}
	return append(rules,
		comment("kubernetes forwarding rules")+" -m mark --mark "+b.markMask+" -j ACCEPT",
		comment("kubernetes forwarding conntrack rule")+" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
	)
}
