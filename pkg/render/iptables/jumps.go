package iptables

// ctNew limits a jump to the first packet of a connection: service
// decisions are made once per connection, and conntrack carries the rest
// (and, for DNATed connections, the later packets no longer carry the
// service address the rules match).
const ctNew = "-m conntrack --ctstate NEW "

// natJumps are the nat table's hooks into svcproxy's chains.
func natJumps() []Jump {
	return []Jump{
		{Chain: "PREROUTING", Rule: comment("kubernetes service portals") + " -j " + chainServices},
		{Chain: "OUTPUT", Rule: comment("kubernetes service portals") + " -j " + chainServices},
		{Chain: "POSTROUTING", Rule: comment("kubernetes postrouting rules") + " -j " + chainPostrouting},
	}
}

// filterJumps are the filter table's hooks into svcproxy's chains, in the
// order they must appear in each built-in chain. The firewall comes first
// so that load balancer traffic refused by its source ranges is dropped
// before anything could accept it.
func filterJumps() []Jump {
	firewall := ctNew + comment("kubernetes load balancer firewall") + " -j " + chainProxyFirewall
	services := ctNew + comment("kubernetes service portals") + " -j " + chainServices
	external := ctNew + comment("kubernetes externally-visible service portals") + " -j " + chainExternalServices
	return []Jump{
		{Chain: "INPUT", Rule: firewall},
		{Chain: "INPUT", Rule: external},
		{Chain: "INPUT", Rule: comment("kubernetes health check service ports") + " -j " + chainNodePorts},
		{Chain: "FORWARD", Rule: firewall},
		{Chain: "FORWARD", Rule: services},
		{Chain: "FORWARD", Rule: external},
		{Chain: "FORWARD", Rule: comment("kubernetes forwarding rules") + " -j " + chainForward},
		{Chain: "OUTPUT", Rule: firewall},
		{Chain: "OUTPUT", Rule: services},
	}
}
