package iptrace

import (
	"net/netip"
	"slices"

	"github.com/svcproxy/svcproxy/internal/tracer"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// maxDepth bounds chain nesting; deeper means a jump loop, which
// iptables-restore would refuse.
const maxDepth = 32

// state is the packet as the rules have left it so far.
type state struct {
	src, dst netip.Addr
	// iif is the interface the packet came in on; "" for one the node
	// sends.
	iif   string
	proto model.Protocol
	port  uint16
	mark  uint32
	// dnat is where the packet was DNATed to; invalid if it was not.
	dnat netip.AddrPort
	masq bool
	// trail is the way the packet took.
	trail tracer.Trail
}

type verdict int

const (
	// verdictContinue: the chain returned (RETURN or its end); in a
	// built-in chain, the policy (ACCEPT) applies.
	verdictContinue verdict = iota
	// verdictAccept: the table is done with the packet; it goes on to
	// the next hook.
	verdictAccept
	verdictDrop
	verdictReject
)

// branch is one way a chain can end.
type branch struct {
	s state
	v verdict
}

type walker struct {
	rs   *Ruleset
	node []netip.Addr
}

// local reports whether addr is the node's: one of its addresses or
// loopback, as the kernel's local routing table would say.
func (w *walker) local(addr netip.Addr) bool {
	return addr.IsLoopback() || slices.Contains(w.node, addr)
}

// Routes walks p through rs on a node with the given addresses (loopback
// is always local) and returns every way it can end, with the rules it
// took and its probability, in the order walked; tracer.Outcomes sums
// them up.
func (rs *Ruleset) Routes(node []netip.Addr, p tracer.Packet) ([]tracer.Route, error) {
	w := &walker{rs: rs, node: node}
	start := []state{{src: p.Src, iif: p.InIface, dst: p.Dst, proto: p.Protocol, port: p.Port, trail: tracer.Start}}
	var out []tracer.Route
	var err error
	if p.FromNode {
		err = w.fromNode(start, &out)
	} else {
		err = w.arriving(start, &out)
	}
	return out, err
}

// hook is one table's built-in chain that a packet traverses.
type hook struct{ table, chain string }

// arriving walks a packet that arrived from a pod or from outside:
// routing after PREROUTING decides between local delivery and forwarding
// by the (possibly DNATed) destination. Locally delivered packets do not
// pass POSTROUTING, so they are never masqueraded.
func (w *walker) arriving(start []state, out *[]tracer.Route) error {
	routed, err := w.hooks(start, out, hook{"nat", "PREROUTING"})
	if err != nil {
		return err
	}
	var local, forwarded []state
	for _, s := range routed {
		if w.local(s.dst) {
			local = append(local, s)
		} else {
			forwarded = append(forwarded, s)
		}
	}
	done, err := w.hooks(local, out, hook{"filter", "INPUT"}, hook{"nat", "INPUT"})
	if err != nil {
		return err
	}
	accept(done, out)
	done, err = w.hooks(forwarded, out, hook{"filter", "FORWARD"}, hook{"nat", "POSTROUTING"})
	accept(done, out)
	return err
}

// fromNode walks a packet sent by the node. One sent to a local address
// loops back and is seen by filter INPUT as well; nat PREROUTING is not
// consulted again for a connection that is already set up.
func (w *walker) fromNode(start []state, out *[]tracer.Route) error {
	sent, err := w.hooks(start, out, hook{"nat", "OUTPUT"}, hook{"filter", "OUTPUT"}, hook{"nat", "POSTROUTING"})
	if err != nil {
		return err
	}
	var looped []state
	for _, s := range sent {
		if w.local(s.dst) {
			looped = append(looped, s)
		} else {
			accept([]state{s}, out)
		}
	}
	done, err := w.hooks(looped, out, hook{"filter", "INPUT"})
	accept(done, out)
	return err
}

// accept records packets that made it through every hook.
func accept(states []state, out *[]tracer.Route) {
	for _, s := range states {
		*out = append(*out, s.trail.Route(tracer.Outcome{Verdict: tracer.Accept, Endpoint: s.dnat, Masquerade: s.masq}))
	}
}

// hooks runs states through hs in order and returns those still alive,
// recording the ones dropped or rejected in out.
func (w *walker) hooks(states []state, out *[]tracer.Route, hs ...hook) ([]state, error) {
	for _, h := range hs {
		t := w.rs.tables[h.table]
		if t == nil {
			continue // a table the payload leaves alone accepts everything
		}
		var alive []state
		for _, s := range states {
			branches, err := w.run(t, t.chains[h.chain], 0, s, 0)
			if err != nil {
				return nil, err
			}
			for _, b := range branches {
				switch b.v {
				case verdictDrop:
					*out = append(*out, b.s.trail.Route(tracer.Outcome{Verdict: tracer.Drop}))
				case verdictReject:
					*out = append(*out, b.s.trail.Route(tracer.Outcome{Verdict: tracer.Reject}))
				default: // the built-in chains' policy is ACCEPT
					alive = append(alive, b.s)
				}
			}
		}
		states = alive
	}
	return states, nil
}
