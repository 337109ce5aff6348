package nftables

import (
	"strconv"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// pick names one shared endpoint choice: among n endpoints, of the
// cluster or the local list, for a destination of one protocol keyed by
// address (Service IPs) or by port alone (NodePorts, whose address
// varies).
//
// Picks are per protocol because the select map's value must name the
// transport header ("tcp dport"): nft 1.0.6 cannot read back a map typed
// "th dport" once loaded, and a protocol-specific type makes nft add a
// "meta l4proto" check to the DNAT rule, which is then right by
// construction.
type pick struct {
	proto    model.Protocol
	nodePort bool
	local    bool
	n        int
}

// suffix is "PROTO-N" or "PROTO-local-N".
func (p pick) suffix() string {
	s := string(p.proto) + "-"
	if p.local {
		s += "local-"
	}
	return s + strconv.Itoa(p.n)
}

// prefix is "nodeport-" for NodePort picks, so their chains and maps
// never mix with the address-keyed ones.
func (p pick) prefix() string {
	if p.nodePort {
		return "nodeport-"
	}
	return ""
}

func (p pick) mapName() string { return p.prefix() + "select-" + p.suffix() }

// keyExpr is the part of the packet the pick's map is keyed by.
func (p pick) keyExpr(syn syntax) string {
	if p.nodePort {
		return "meta l4proto . th dport"
	}
	return syn.ip + ruleDestination
}

// dnatChain returns the chain holding the pick's single DNAT rule,
// creating it and its map on first use. The rule looks the packet's own
// destination up together with a random number below n, so one rule and
// one map serve every destination with n endpoints: nft load time grows
// with rules and with rules × elements of the maps they reference, and
// this keeps both small (see the package documentation).
func (r *renderer) dnatChain(p pick) string {
	name := p.prefix() + "dnat-" + p.suffix()
	return r.ensureChain(name, func() {
		key := p.keyExpr(r.syn)
		r.addMap(&knftables.Map{
			Name:   p.mapName(),
			TypeOf: key + " . numgen random mod 1 : " + r.syn.ip + " daddr . " + string(p.proto) + " dport",
		})
		r.rule(name, "dnat "+r.syn.ip+" to "+key+" . numgen random mod "+strconv.Itoa(p.n)+" map @"+p.mapName(),
			"random endpoint of "+strconv.Itoa(p.n))
	})
}

// addSelections adds one element per endpoint to the pick's map: the
// destination key followed by the endpoint's index, mapping to the
// endpoint's address and port.
func (r *renderer) addSelections(p pick, key string, eps []model.Endpoint) {
	l := r.list(p.mapName())
	for i, ep := range eps {
		l.addSelection(key, i, ep.IP, ep.Port)
	}
}
