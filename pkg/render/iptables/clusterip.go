package iptables

// clusterIP renders the rule that catches traffic to the cluster IP: a
// jump to the internal traffic chain, or, without endpoints for internal
// traffic, a refusal in filter KUBE-SERVICES (nat cannot REJECT).
func (b *builder) clusterIP(s *serviceInfo) {
	dst := s.proto + " -d " + s.sp.ClusterIP.String() + " --dport " + s.port
	if len(s.sp.InternalEndpoints()) == 0 {
		why, target := s.refusal()
		b.filterServices = append(b.filterServices, comment(s.name+why)+" "+dst+" -j "+target)
		return
	}
	b.natServices = append(b.natServices, b.scaledComment(s.name+" cluster IP")+dst+" -j "+s.internalChain())
}

// scaledComment returns the comment match for text followed by a space,
// or nothing above largeClusterEndpoints: it is used for the rules every
// service port has, which at that size are most of the table besides the
// per-endpoint rules. Their chain names and addresses still identify them.
func (b *builder) scaledComment(text string) string {
	if !b.endpointComments {
		return ""
	}
	return comment(text) + " "
}
