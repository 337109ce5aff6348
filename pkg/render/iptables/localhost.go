package iptables

// chainLocalnetFirewall is the filter chain that guards localhost
// NodePorts. kubelet creates the same chain with the same rule, so it is
// shared rather than owned: svcproxy fills it, jumps to it, and never
// deletes it or the jumps, as kube-proxy does not.
const chainLocalnetFirewall = "KUBE-FIREWALL"

// localnetGuard is the one rule of KUBE-FIREWALL, kube-proxy's and
// kubelet's. route_localnet, which localhost NodePorts need, also makes
// the node accept packets addressed to 127.0.0.0/8 from its neighbours
// and reach whatever listens on loopback only (CVE-2020-8558); only the
// node itself may use those addresses, but for replies and NodePort
// traffic already DNATed away from them.
const localnetGuard = `-m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`

// localnetFirewall returns KUBE-FIREWALL and the jumps from INPUT and
// OUTPUT that come before every other, or nothing when this family's
// rules serve no localhost NodePorts: the chain is then left as kubelet
// keeps it.
func (b *builder) localnetFirewall() ([]Chain, []Jump) {
	if !b.m.LocalhostNodePorts() {
		return nil, nil
	}
	jump := "-j " + chainLocalnetFirewall
	return []Chain{{Name: chainLocalnetFirewall, Rules: []string{localnetGuard}}},
		[]Jump{{Chain: "INPUT", Rule: jump}, {Chain: "OUTPUT", Rule: jump}}
}

// The nfacct counters kube-proxy's iptables rules count packets in, and
// so svcproxy's where they exist (model.Config.NFAcctCounters): those
// dropped as INVALID, and those accepted on localhost NodePorts.
const (
	NFAcctInvalidDropped    = "ct_state_invalid_dropped_pkts"
	NFAcctLocalhostAccepted = "localhost_nps_accepted_pkts"
)

// count returns the match that counts a rule's packets in the named
// nfacct counter, or nothing where the counters do not exist.
func (b *builder) count(counter string) string {
	if !b.m.Config.NFAcctCounters {
		return ""
	}
	return " -m nfacct --nfacct-name " + counter
}
