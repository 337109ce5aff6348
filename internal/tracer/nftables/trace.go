// Package nfttrace walks a packet through an nftables table, the way the
// kernel would, and reports every way it can end. [Load] builds the
// table from the `nft -f` text an applier sends, so the walk is over
// what the kernel would be given. Both understand exactly the subset of
// nft the svcproxy renderer emits; any other command or expression is an
// error, so a renderer change cannot silently slip past the behaviour
// tests.
//
// The walk models the first packet of a new connection: `ct state new` is
// true, `ct status dnat` is true once the packet was DNATed, affinity sets
// are empty (every lookup misses), `numgen random mod N` takes every value
// in turn, and `fib ... type local` asks whether an address is one of the
// node's or a loopback address.
package nfttrace

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/internal/tracer"
)

// maxDepth bounds jumps and gotos, so a loop in the rules is reported
// instead of recursing forever.
const maxDepth = 64

// state is what the rules can see and change of one packet.
type state struct {
	src, dst netip.Addr
	// iif is the interface the packet came in on; "" for one the node
	// sends.
	iif   string
	proto string
	dport uint16
	mark  uint32
	dnat  bool
	masq  bool
	// trail is the way the packet took.
	trail tracer.Trail
}

// walker holds the table and the node a trace runs against.
type walker struct {
	table *Table
	node  []netip.Addr
	ip    string // "ip" or "ip6": the address keyword of the table's family
}

// Routes walks p through table (as Load returned it) on a node with the
// given addresses, and returns every way it can end, with the rules it
// took and its probability, in the order walked; tracer.Outcomes sums
// them up. An arriving packet takes prerouting, then input when its (possibly DNATed)
// destination is local or forward and postrouting otherwise; a packet
// from the node takes output and postrouting.
func Routes(table *Table, node []netip.Addr, p tracer.Packet) ([]tracer.Route, error) {
	w := &walker{table: table, node: node, ip: "ip"}
	if table.Family == knftables.IPv6Family {
		w.ip = "ip6"
	}
	if p.Dst.Is6() != (w.ip == "ip6") {
		return nil, fmt.Errorf("tracing %s: the packet's family is not that of table %s %s", p, table.Family, table.Name)
	}
	start := state{src: p.Src, iif: p.InIface, dst: p.Dst, proto: string(p.Protocol), dport: p.Port, trail: tracer.Start}
	routes, err := w.path(start, p.FromNode)
	if err != nil {
		return nil, fmt.Errorf("tracing %s: %w", p, err)
	}
	return routes, nil
}

// path runs the hooks a packet passes, in order.
func (w *walker) path(s state, fromNode bool) ([]tracer.Route, error) {
	var out []tracer.Route
	first := knftables.PreroutingHook
	if fromNode {
		first = knftables.OutputHook
	}
	live, ended, err := w.hook(first, []state{s})
	if err != nil {
		return nil, err
	}
	out = append(out, ended...)
	var forward []state
	for _, st := range live {
		if !fromNode && w.local(st.dst) {
			// Delivered to the node: SNAT happens only in postrouting,
			// which local delivery never reaches.
			in, ended, err := w.hook(knftables.InputHook, []state{st})
			if err != nil {
				return nil, err
			}
			out = append(append(out, ended...), outcomes(in, false)...)
			continue
		}
		forward = append(forward, st)
	}
	if !fromNode {
		if forward, ended, err = w.hook(knftables.ForwardHook, forward); err != nil {
			return nil, err
		}
		out = append(out, ended...)
	}
	post, ended, err := w.hook(knftables.PostroutingHook, forward)
	if err != nil {
		return nil, err
	}
	out = append(append(out, ended...), outcomes(post, true)...)
	return out, nil
}

// outcomes turns packets that made it through into accept routes.
func outcomes(states []state, canMasq bool) []tracer.Route {
	var out []tracer.Route
	for _, s := range states {
		o := tracer.Outcome{Verdict: tracer.Accept, Masquerade: canMasq && s.masq}
		if s.dnat {
			o.Endpoint = netip.AddrPortFrom(s.dst, s.dport)
		}
		out = append(out, s.trail.Route(o))
	}
	return out
}

// local reports whether addr is one of the node's addresses.
func (w *walker) local(addr netip.Addr) bool {
	return addr.IsLoopback() || slices.Contains(w.node, addr)
}

// hook runs the base chains of one hook in priority order. It returns the
// packets that went on and the outcomes of those dropped or rejected.
func (w *walker) hook(h knftables.BaseChainHook, in []state) ([]state, []tracer.Route, error) {
	var ended []tracer.Route
	live := in
	for _, c := range w.baseChains(h) {
		var next []state
		for _, s := range live {
			branches, err := w.runChain(c.Name, s, 0)
			if err != nil {
				return nil, nil, err
			}
			for _, b := range branches {
				switch b.v {
				case vDrop:
					ended = append(ended, b.s.trail.Route(tracer.Outcome{Verdict: tracer.Drop}))
				case vReject:
					ended = append(ended, b.s.trail.Route(tracer.Outcome{Verdict: tracer.Reject}))
				default:
					next = append(next, b.s)
				}
			}
		}
		live = next
	}
	return live, ended, nil
}

// baseChains returns the table's base chains on hook h, lowest priority
// first (name breaks ties, so the walk is deterministic).
func (w *walker) baseChains(h knftables.BaseChainHook) []*Chain {
	var out []*Chain
	for _, c := range w.table.Chains {
		if c.Hook == h {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Chain) int { return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Name, b.Name)) })
	return out
}
