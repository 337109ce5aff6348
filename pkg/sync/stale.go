package sync

import (
	"net/netip"
	"slices"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// StaleUDPEndpoints lists the endpoints of UDP service ports that prev's
// rules could send traffic to and next's cannot, sorted and without
// duplicates. Their conntrack entries would keep steering a client's
// datagrams to them.
func StaleUDPEndpoints(prev, next *model.Model) []netip.AddrPort {
	reachable := func(m *model.Model) map[model.PortName]map[netip.AddrPort]bool {
		out := map[model.PortName]map[netip.AddrPort]bool{}
		for _, sp := range m.Services {
			if sp.Name.Protocol != model.UDP {
				continue
			}
			set := map[netip.AddrPort]bool{}
			for _, ep := range sp.AllEndpoints() {
				set[netip.AddrPortFrom(ep.IP, ep.Port)] = true
			}
			out[sp.Name] = set
		}
		return out
	}
	after := reachable(next)
	var stale []netip.AddrPort
	for name, eps := range reachable(prev) {
		for ep := range eps {
			if !after[name][ep] {
				stale = append(stale, ep)
			}
		}
	}
	slices.SortFunc(stale, netip.AddrPort.Compare)
	return slices.Compact(stale)
}
