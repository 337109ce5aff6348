// Package tracer holds what the per-backend packet tracers share: the
// description of a packet and of where it can end up.
//
// A tracer walks a packet through rendered rules the way the kernel would,
// following every branch of a random choice, so a test can assert the set
// of endpoints a packet can reach, whether it is rejected or dropped, and
// whether it leaves masqueraded. The tracers read the rendered text, not
// the model, so they test what is actually loaded into the kernel.
package tracer

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Packet is the first packet of a new connection.
type Packet struct {
	// FromNode is true for a packet sent by a process on the node (it
	// takes the OUTPUT path); false for one arriving from a pod or from
	// outside (the PREROUTING path).
	FromNode bool
	Src      netip.Addr
	// InIface is the interface an arriving packet comes in on, for rules
	// that match it; "" when no rule needs it to be known.
	InIface  string
	Dst      netip.Addr
	Protocol model.Protocol
	Port     uint16
}

// String returns "[node ]SRC[@IFACE] PROTO DST:PORT".
func (p Packet) String() string {
	src := p.Src.String()
	if p.InIface != "" {
		src += "@" + p.InIface
	}
	s := fmt.Sprintf("%s %s %s", src, p.Protocol, netip.AddrPortFrom(p.Dst, p.Port))
	if p.FromNode {
		s = "node " + s
	}
	return s
}

// Verdict is what finally happens to a packet.
type Verdict string

const (
	// Accept means the packet goes on: to Endpoint if DNATed, else
	// untouched to its original destination.
	Accept Verdict = "accept"
	// Reject means the packet is refused with an ICMP error (or a TCP
	// reset), so the client fails at once.
	Reject Verdict = "reject"
	// Drop means the packet is silently discarded.
	Drop Verdict = "drop"
)

// Outcome is one way a packet can end.
type Outcome struct {
	Verdict Verdict
	// Endpoint is where the packet was DNATed to; invalid if it was not.
	Endpoint netip.AddrPort
	// Masquerade is true when the packet leaves with the node's address as
	// its source.
	Masquerade bool
}

// String returns "reject", "drop", "accept" (not DNATed), or the endpoint
// "IP:PORT", followed by "+masq" when masqueraded.
func (o Outcome) String() string {
	if o.Verdict != Accept {
		return string(o.Verdict)
	}
	s := "accept"
	if o.Endpoint.IsValid() {
		s = o.Endpoint.String()
	}
	if o.Masquerade {
		s += "+masq"
	}
	return s
}

// Result is every way a packet can end, sorted and without duplicates.
type Result []Outcome

// Normalize sorts r and removes duplicates.
func (r Result) Normalize() Result {
	out := slices.Clone(r)
	slices.SortFunc(out, func(a, b Outcome) int {
		return cmp.Compare(a.String(), b.String())
	})
	return slices.Compact(out)
}

// String returns the outcomes separated by spaces.
func (r Result) String() string {
	parts := make([]string, len(r))
	for i, o := range r {
		parts[i] = o.String()
	}
	return strings.Join(parts, " ")
}
