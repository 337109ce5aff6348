package iptables

import "github.com/svcproxy/svcproxy/pkg/model"

// nodePort renders the rules that catch traffic to the port's NodePort: a
// jump to KUBE-EXT- in nat KUBE-NODEPORTS and, when external traffic has
// no endpoints, a refusal in filter KUBE-EXTERNAL-SERVICES of whatever
// KUBE-EXT- did not DNAT.
func (b *builder) nodePort(s *serviceInfo) {
	if s.sp.NodePort == 0 {
		return
	}
	dst := s.proto + " --dport " + port(s.sp.NodePort)
	if s.hasEXT {
		// Packets to the loopback addresses are counted on their way,
		// by a rule of their own before the general one, as kube-proxy
		// counts them.
		if b.m.LocalhostNodePorts() && b.m.Config.NFAcctCounters {
			b.natNodePorts = append(b.natNodePorts, comment(s.name+" nodePort")+" "+s.proto+" -d 127.0.0.0/8 --dport "+port(s.sp.NodePort)+
				b.count(NFAcctLocalhostAccepted)+" -j "+s.ext)
		}
		b.natNodePorts = append(b.natNodePorts, comment(s.name+" nodePort")+" "+dst+" -j "+s.ext)
	}
	if !s.hasExtEndpoints {
		why, verdict := s.refusal()
		b.filterExternal = append(b.filterExternal,
			comment(s.name+why)+" -m addrtype --dst-type LOCAL "+dst+" -j "+verdict)
	}
}

// NodePortStyle is how these rules read NodePortAddresses, as
// kube-proxy's iptables mode does: every address by default, and the
// loopback addresses too where localhost NodePorts are on.
var NodePortStyle = model.NodePortStyle{Localhost: true}

// nodePortsJumps returns the rules that end nat KUBE-SERVICES and send
// traffic addressed to the node on to KUBE-NODEPORTS: any local address,
// but loopback unless localhost NodePorts are on (they need
// route_localnet, and IPv6 has no such thing), or only the node
// addresses inside NodePortAddresses.
func (b *builder) nodePortsJumps() []string {
	ips, all := b.m.NodePortIPs(NodePortStyle)
	if all {
		if b.m.LocalhostNodePorts() {
			return []string{comment(nodePortsComment) + " -m addrtype --dst-type LOCAL -j " + chainNodePorts}
		}
		loopback := "127.0.0.0/8"
		if b.m.Family == model.IPv6 {
			loopback = "::1/128"
		}
		return []string{comment(nodePortsComment) + " -m addrtype --dst-type LOCAL ! -d " + loopback + " -j " + chainNodePorts}
	}
	rules := make([]string, 0, len(ips))
	for _, ip := range ips {
		rules = append(rules, comment(nodePortsComment)+" -d "+ip.String()+" -j "+chainNodePorts)
	}
	return rules
}

// healthCheck opens the health check node port of a Service with the
// Local external policy, which load balancers probe to find the nodes
// that have endpoints.
func (b *builder) healthCheck(s *serviceInfo) {
	sp := s.sp
	if sp.HealthCheckNodePort == 0 {
		return
	}
	svc := commentName(model.PortName{Namespace: sp.Name.Namespace, Name: sp.Name.Name})
	rule := comment(svc+" health check node port") + " -m tcp -p tcp --dport " + port(sp.HealthCheckNodePort) + " -j ACCEPT"
	if rule == b.lastHealthCheck {
		return
	}
	b.lastHealthCheck = rule
	b.filterNodePort = append(b.filterNodePort, rule)
}
