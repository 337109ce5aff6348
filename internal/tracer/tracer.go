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

// Step is one rule a packet matched on its way, one whose target or
// verdict it took.
type Step struct {
	// Table is the iptables table ("nat", "filter") or the nftables
	// table ("ip svcproxy"); Chain the chain the rule is in.
	Table string `json:"table"`
	Chain string `json:"chain"`
	// Rule is the rule as rendered, without its chain and comment.
	Rule    string `json:"rule"`
	Comment string `json:"comment,omitempty"`
	// Element is the verdict map element the rule took (nftables), and
	// ElementComment its comment, which names the Service port.
	Element        string `json:"element,omitempty"`
	ElementComment string `json:"elementComment,omitempty"`
}

// Route is one way a packet can end: the outcome, how likely it is when
// the rules choose at random, and the rules it took to get there.
type Route struct {
	Outcome
	Probability float64
	Path        []Step
}

// Outcomes returns the routes' outcomes, normalized.
func Outcomes(routes []Route) Result {
	out := make(Result, len(routes))
	for i, r := range routes {
		out[i] = r.Outcome
	}
	return out.Normalize()
}

// Trail is what a walker carries of a packet's way: the rules taken and
// the probability of the random choices made. Copies share nothing a
// later Take changes.
type Trail struct {
	Path []Step
	// Odds is the product of the probabilities of the choices made.
	Odds float64
}

// Start is the trail of a packet that has taken no rule yet.
var Start = Trail{Odds: 1}

// Take returns the trail with st appended.
func (t Trail) Take(st Step) Trail {
	t.Path = append(slices.Clip(t.Path), st)
	return t
}

// Choose returns the trail after a random choice of probability p.
func (t Trail) Choose(p float64) Trail {
	t.Odds *= p
	return t
}

// Route returns the route of an outcome reached along t.
func (t Trail) Route(o Outcome) Route {
	return Route{Outcome: o, Probability: t.Odds, Path: t.Path}
}

// Destination is an address, protocol and port a Service port is
// reached at, as the rules name it: the port's name comes from a rule's
// or an element's comment. Addr is invalid for a node port, which every
// node address takes.
type Destination struct {
	Port     string
	Addr     netip.Addr
	Protocol model.Protocol
	Number   uint16
}

// String returns "ADDR:PORT/PROTO", or "node port PORT/PROTO".
func (d Destination) String() string {
	if !d.Addr.IsValid() {
		return fmt.Sprintf("node port %d/%s", d.Number, d.Protocol)
	}
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(d.Addr, d.Number), d.Protocol)
}

// PortOfComment returns the Service port a comment names: its first
// word when that is "namespace/name" or "namespace/name:port", as the
// renderers write them; "" otherwise.
func PortOfComment(comment string) string {
	word, _, _ := strings.Cut(comment, " ")
	if !strings.Contains(word, "/") {
		return ""
	}
	return word
}

// SortDestinations sorts ds by port name, address, protocol and number,
// and drops duplicates.
func SortDestinations(ds []Destination) []Destination {
	slices.SortFunc(ds, func(a, b Destination) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), a.Addr.Compare(b.Addr), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Number, b.Number))
	})
	return slices.Compact(ds)
}
