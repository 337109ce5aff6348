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
	b.natServices = append(b.natServices, comment(s.name+" cluster IP")+" "+dst+" -j "+s.internalChain())
}
