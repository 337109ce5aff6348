package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/svcproxy/svcproxy/internal/tracer"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// ruleView is what one family's rules do, Service port by Service port:
// for each destination the rules name and each kind of sender, where a
// new connection ends up and how likely each end is. Two rulesets that
// mean the same have the same view, however they are spelled; diff
// compares views.
type ruleView map[string]map[string]string

// placeholderNode stands for the node's address where the rules do not
// say it (iptables' node ports match any local address): both sides of
// a diff are traced with it, so it cancels out.
var placeholderNode = map[model.Family]netip.Addr{
	model.IPv4: netip.MustParseAddr("198.51.100.254"),
	model.IPv6: netip.MustParseAddr("2001:db8:ffff::fe"),
}

// outsider is the sender from outside the cluster, an address of no
// network the rules name in the tests' address plan.
var outsider = map[model.Family]netip.Addr{
	model.IPv4: netip.MustParseAddr("203.0.113.254"),
	model.IPv6: netip.MustParseAddr("2001:db8:fffe::fe"),
}

// sender is one kind of source a destination is traced from.
type sender struct {
	name string
	pkt  func(d tracer.Destination, dst netip.Addr) tracer.Packet
}

// newRuleView traces every destination of r from every kind of sender.
func newRuleView(r *tracedRules, fam model.Family) (ruleView, error) {
	node := r.node
	if len(node) == 0 && r.nft != nil {
		node = r.nft.NodePortAddresses()
	}
	if len(node) == 0 {
		node = []netip.Addr{placeholderNode[fam]}
	}
	walk := *r
	walk.node = node
	view := ruleView{}
	for _, d := range r.destinations() {
		if model.FamilyOf(d.Addr) != fam && d.Addr.IsValid() {
			continue
		}
		dst := d.Addr
		if !dst.IsValid() {
			dst = node[0]
		}
		for _, s := range r.senders(fam, node[0]) {
			routes, err := walk.routes(s.pkt(d, dst))
			if err != nil {
				return nil, fmt.Errorf("tracing %s to %s: %w", s.name, d, err)
			}
			if view[d.Port] == nil {
				view[d.Port] = map[string]string{}
			}
			view[d.Port][d.String()+" from "+s.name] = odds(routes)
		}
	}
	return view, nil
}

// senders are a pod (when the rules name the pod network), a host
// outside, and the node itself.
func (r *tracedRules) senders(fam model.Family, node netip.Addr) []sender {
	packet := func(src netip.Addr, fromNode bool) func(tracer.Destination, netip.Addr) tracer.Packet {
		return func(d tracer.Destination, dst netip.Addr) tracer.Packet {
			return tracer.Packet{Src: src, Dst: dst, Protocol: d.Protocol, Port: d.Number, FromNode: fromNode}
		}
	}
	var out []sender
	for _, p := range r.podCIDRs() {
		if model.FamilyOf(p.Addr()) == fam {
			out = append(out, sender{"a pod", packet(lastHost(p), false)})
			break
		}
	}
	return append(out, sender{"outside", packet(outsider[fam], false)}, sender{"the node", packet(node, true)})
}

// lastHost is the last address of p but one, which no test's pod has.
func lastHost(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	for i := p.Bits() / 8; i < len(a); i++ {
		a[i] = 0xff
	}
	a[len(a)-1] = 0xfe
	addr, _ := netip.AddrFromSlice(a)
	return addr
}

// odds prints where routes end and how likely each end is:
// "10.244.1.5:8080 50%, 10.244.2.7:8080 50%".
func odds(routes []tracer.Route) string {
	sum := map[string]float64{}
	for _, r := range routes {
		sum[r.String()] += r.Probability
	}
	var ends []string
	for o, p := range sum {
		ends = append(ends, o+" "+percent(p))
	}
	slices.Sort(ends)
	return strings.Join(ends, ", ")
}

func (r *tracedRules) destinations() []tracer.Destination {
	if r.nft != nil {
		return r.nft.Destinations()
	}
	return r.ipt.Destinations()
}

func (r *tracedRules) podCIDRs() []netip.Prefix {
	if r.nft != nil {
		return r.nft.PodCIDRs()
	}
	return r.ipt.PodCIDRs()
}

// compareViews returns what differs between a and b, port by port in
// name order, as lines a person reads: a port or destination only on
// one side, or the ends of one sender's connections.
func compareViews(a, b ruleView) []string {
	var out []string
	for _, port := range unionKeys(a, b) {
		pa, pb := a[port], b[port]
		name := port
		switch {
		case pa == nil:
			out = append(out, fmt.Sprintf("%s: only in the second (%d destinations and senders)", name, len(pb)))
			continue
		case pb == nil:
			out = append(out, fmt.Sprintf("%s: only in the first (%d destinations and senders)", name, len(pa)))
			continue
		}
		for _, k := range unionKeys(pa, pb) {
			switch va, vb := pa[k], pb[k]; {
			case va == vb:
			case va == "":
				out = append(out, fmt.Sprintf("%s %s: only in the second: %s", name, k, vb))
			case vb == "":
				out = append(out, fmt.Sprintf("%s %s: only in the first: %s", name, k, va))
			default:
				out = append(out, fmt.Sprintf("%s %s: %s", name, k, endsChanged(va, vb)))
			}
		}
	}
	return out
}

// endsChanged says how one sender's ends differ: each end added,
// removed or with other odds.
func endsChanged(a, b string) string {
	parse := func(s string) map[string]string {
		m := map[string]string{}
		for _, e := range strings.Split(s, ", ") {
			end, p, _ := strings.Cut(e, " ")
			m[end] = p
		}
		return m
	}
	ma, mb := parse(a), parse(b)
	var parts []string
	for _, end := range unionKeys(ma, mb) {
		switch pa, pb := ma[end], mb[end]; {
		case pa == pb:
		case pa == "":
			parts = append(parts, end+" added ("+pb+")")
		case pb == "":
			parts = append(parts, end+" removed (was "+pa+")")
		default:
			parts = append(parts, end+" "+pa+" → "+pb)
		}
	}
	return strings.Join(parts, "; ")
}

func unionKeys[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
