package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/internal/tracer"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestGoldenTraffic sends every packet of every golden scenario for
// real, in each backend: a node namespace holding the scenario's node
// addresses and the rules svcproxy render applies, a pod namespace for
// every endpoint and every source in the pod network (wired as Calico
// wires pods, so any address works), and outside clients for the rest.
// Where the packet ends up must be what the scenario says the rules do,
// which is what the tracers say (TestGolden): this is what ties the
// tracers, and svcproxy trace, to the kernel.
//
// A packet the rules leave alone ("accept") is answered where routing
// sends it: by the node, for one of its addresses, or by an outside host
// holding the destination. Lines that come in on a named interface are
// sent in a topology of their own, where the node's link to their sender
// has that name. Lines it cannot send are skipped and counted: SCTP, a
// second sender on one named interface, a neighbour's packets
// to the node's loopback addresses, packets from an address another line
// sends to, and packets left alone whose destination no host can hold
// without taking it from another line's sender outside.
func TestGoldenTraffic(t *testing.T) {
	netnstest.RequireRoot(t, "nft", "iptables-legacy-restore", "iptables-nft-restore", "conntrack")
	bin := svcproxyBinary(t)
	sent, skipped := 0, 0
	for _, path := range goldenFiles(t) {
		sc := loadScenario(t, path)
		exps, err := tracer.ParseExpectations(string(sc.section(secTrace)))
		if err != nil {
			t.Fatal(err)
		}
		for _, iface := range inputInterfaces(exps) {
			plan := newTrafficPlan(t, sc, exps, iface)
			skipped += plan.skipped
			if len(plan.lines) == 0 {
				continue
			}
			name := scenarioName(path)
			if iface != "" {
				name += "/in-" + iface
			}
			t.Run(name, func(t *testing.T) { sent += plan.sendAll(t, bin, sc) })
		}
	}
	t.Logf("%d packets sent for real, %d trace lines skipped", sent, skipped)
}

// sendAll applies the scenario in each backend and sends the plan's
// packets, returning how many it sent.
func (p *trafficPlan) sendAll(t *testing.T, bin string, sc *scenario) int {
	sent := 0
	topo := p.topology(t)
	for _, mode := range []string{"nftables", "iptables-nft", "iptables-legacy"} {
		args := append([]string{"render", "--mode", mode, "-f", "-"}, sc.flags...)
		if out, err := topo.Node.Run(bytes.NewReader(sc.input), bin, args...); err != nil {
			t.Fatalf("%s: applying: %v\n%s", mode, err, out)
		}
		for _, e := range p.lines {
			if e.Backend == "" || e.Backend == backendOf(mode) {
				p.send(t, topo, mode, e)
				sent++
			}
		}
		if _, err := topo.Node.Run(nil, bin, "cleanup"); err != nil {
			t.Fatal(err)
		}
		_, _ = topo.Node.Run(nil, "conntrack", "-F")
	}
	return sent
}

// inputInterfaces returns the input interfaces the lines name, "" (none)
// first: a topology can give each name to one link only, so each gets
// one of its own.
func inputInterfaces(exps []tracer.Expectation) []string {
	out := []string{""}
	for _, e := range exps {
		if !slices.Contains(out, e.Packet.InIface) {
			out = append(out, e.Packet.InIface)
		}
	}
	return out
}

func backendOf(mode string) string {
	if mode == "nftables" {
		return modeNFTables
	}
	return modeIPTables
}

// trafficPlan is what a scenario needs in namespaces to send its
// packets.
type trafficPlan struct {
	nodeIPs  []netip.Addr
	pods     map[netip.Addr][]testnet.Port
	outside  []netip.Addr
	lines    []tracer.Expectation
	skipped  int
	podNets  []netip.Prefix
	podOrder []netip.Addr
	// dsts are every line's destination, which no sender may hold, and
	// outsideDsts those senders outside send to, which no outside host
	// may hold either.
	dsts, outsideDsts []netip.Addr
	// nodePorts and heldPorts are where packets left alone are answered:
	// on the node, or by an outside host holding their destination.
	nodePorts []testnet.Port
	held      map[netip.Addr][]testnet.Port
	// iface is the input interface of the plan's lines: the name of the
	// node's link to their sender.
	iface string
	// ifaceSender is the sender that link leads to, a pod when iface is
	// the pods' (podIface, with podPrefix a prefix of their names).
	ifaceSender netip.Addr
	podIface    string
	podPrefix   bool
	// sticky is set when a port has session affinity: a client then
	// stays on the endpoint it first reached, so only some of the
	// endpoints a first packet may reach are seen.
	sticky bool
}

// newTrafficPlan plans the lines of exps that come in on iface ("" for
// those that name none).
func newTrafficPlan(t *testing.T, sc *scenario, exps []tracer.Expectation, iface string) *trafficPlan {
	t.Helper()
	p := &trafficPlan{pods: map[netip.Addr][]testnet.Port{}, held: map[netip.Addr][]testnet.Port{}, iface: iface}
	for _, m := range sc.mustModels(t) {
		p.nodeIPs = append(p.nodeIPs, m.Node.IPs...)
		p.podNets = append(p.podNets, m.Config.ClusterCIDRs...)
		p.sticky = p.sticky || slices.ContainsFunc(m.Services, func(sp *model.ServicePort) bool { return sp.AffinitySeconds > 0 })
		p.podIface, p.podPrefix = m.Config.PodInterface, m.Config.PodInterfacePrefix
	}
	var eps []netip.AddrPort
	for _, e := range exps {
		p.dsts = append(p.dsts, e.Packet.Dst)
		for _, w := range strings.Fields(e.Want) {
			if ep, err := netip.ParseAddrPort(strings.TrimSuffix(w, "+masq")); err == nil {
				eps = append(eps, ep)
			}
		}
	}
	for _, e := range exps {
		if !e.Packet.FromNode && !p.isPod(e.Packet.Src, eps) {
			p.outsideDsts = append(p.outsideDsts, e.Packet.Dst)
		}
	}
	for _, e := range exps {
		if e.Packet.InIface != iface {
			continue
		}
		if !p.add(e) {
			p.skipped++
		}
	}
	return p
}

// add plans one line, and reports whether it can be sent.
func (p *trafficPlan) add(e tracer.Expectation) bool {
	proto := testnet.Proto(e.Packet.Protocol)
	// A neighbour's packet to the node's loopback addresses would stay in
	// the sender's own namespace.
	if (proto != testnet.TCP && proto != testnet.UDP) || (!e.Packet.FromNode && e.Packet.Dst.IsLoopback()) {
		return false
	}
	if p.iface != "" {
		// One link has the name, so one sender comes in on it.
		if p.ifaceSender.IsValid() && p.ifaceSender != e.Packet.Src {
			return false
		}
		p.ifaceSender = e.Packet.Src
	}
	want := strings.Fields(e.Want)
	var eps []netip.AddrPort
	for _, w := range want {
		ep, err := netip.ParseAddrPort(strings.TrimSuffix(w, "+masq"))
		if err != nil && (len(want) != 1 || (w != "reject" && w != "drop" && !p.answersLeftAlone(e))) {
			return false
		}
		if err == nil {
			eps = append(eps, ep)
		}
	}
	src := e.Packet.Src
	switch {
	case slices.Contains(p.dsts, src) && !e.Packet.FromNode:
		return false // a namespace holding it would answer for it
	case e.Packet.FromNode:
		if !src.IsLoopback() && !slices.Contains(p.nodeIPs, src) {
			return false
		}
	case slices.Contains(p.nodeIPs, src) || src.IsLoopback():
		return false
	case p.isPod(src, eps):
		p.pod(src, testnet.Port{})
	default:
		if !slices.Contains(p.outside, src) {
			p.outside = append(p.outside, src)
		}
	}
	for _, ep := range eps {
		p.pod(ep.Addr(), testnet.Port{Proto: proto, Port: ep.Port()})
	}
	p.lines = append(p.lines, e)
	return true
}

// answersLeftAlone plans who answers a packet the rules leave alone
// (an "accept" line): the node, for one of its addresses, or an outside
// host holding the destination, for a packet from the node or a pod
// (one from outside would stay there). It reports whether one can.
func (p *trafficPlan) answersLeftAlone(e tracer.Expectation) bool {
	w := strings.TrimSuffix(e.Want, "+masq")
	if w != "accept" {
		return false
	}
	port := testnet.Port{Proto: testnet.Proto(e.Packet.Protocol), Port: e.Packet.Port}
	dst := e.Packet.Dst
	switch {
	case slices.Contains(p.nodeIPs, dst):
		if !slices.Contains(p.nodePorts, port) {
			p.nodePorts = append(p.nodePorts, port)
		}
		return true
	case dst.IsLoopback() || (!e.Packet.FromNode && !p.isPod(e.Packet.Src, nil)) || slices.Contains(p.outsideDsts, dst):
		return false
	}
	if !slices.Contains(p.held[dst], port) {
		p.held[dst] = append(p.held[dst], port)
	}
	return true
}

func (p *trafficPlan) isPod(src netip.Addr, eps []netip.AddrPort) bool {
	if slices.ContainsFunc(eps, func(ep netip.AddrPort) bool { return ep.Addr() == src }) {
		return true
	}
	if p.iface != "" && src == p.ifaceSender {
		// Where pods are told by their interface, the interface says.
		return p.iface == p.podIface || (p.podPrefix && strings.HasPrefix(p.iface, p.podIface))
	}
	return slices.ContainsFunc(p.podNets, func(n netip.Prefix) bool { return n.Contains(src) })
}

func (p *trafficPlan) pod(addr netip.Addr, port testnet.Port) {
	if _, ok := p.pods[addr]; !ok {
		p.podOrder = append(p.podOrder, addr)
		p.pods[addr] = nil
	}
	if port.Port != 0 && !slices.Contains(p.pods[addr], port) {
		p.pods[addr] = append(p.pods[addr], port)
	}
}

// topology builds the namespaces the plan needs.
func (p *trafficPlan) topology(t *testing.T) *testnet.Topology {
	t.Helper()
	var specs []testnet.PodSpec
	for i, a := range p.podOrder {
		spec := testnet.PodSpec{Name: fmt.Sprintf("pod-%d", i), Routed: true}
		if a == p.ifaceSender {
			spec.LinkName = p.iface
		}
		if a.Is4() {
			spec.IPv4 = a
		} else {
			spec.IPv6 = a
		}
		specs = append(specs, spec)
	}
	topo := testnet.New(t, specs...)
	for i, a := range p.podOrder {
		if ports := p.pods[a]; len(ports) > 0 {
			topo.Pods[specs[i].Name].StartEcho(t, ports...)
		}
	}
	for _, a := range p.nodeIPs {
		if a != testnet.NodeIPv4 && a != testnet.NodeIPv6 {
			topo.AddNodeAddr(t, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	if p.iface != "" && slices.Contains(p.outside, p.ifaceSender) {
		topo.RenameExternalLink(t, p.iface)
	}
	for _, a := range p.outside {
		topo.AddExternalClient(t, a)
	}
	if len(p.nodePorts) > 0 {
		testnet.StartEcho(t, topo.Node, p.nodePorts...)
	}
	var held []testnet.Port
	for a, ports := range p.held {
		topo.AddExternalClient(t, a)
		for _, port := range ports {
			if !slices.Contains(held, port) {
				held = append(held, port)
			}
		}
	}
	if len(held) > 0 {
		testnet.StartEcho(t, topo.External, held...)
	}
	return topo
}

// send sends one line's packet, as many times as its endpoints need to
// be seen all, and checks where it ends up.
func (p *trafficPlan) send(t *testing.T, topo *testnet.Topology, mode string, e tracer.Expectation) {
	t.Helper()
	from, src := topo.External, e.Packet.Src
	switch {
	case e.Packet.FromNode:
		from = topo.Node
	case p.isPod(src, nil) || p.pods[src] != nil || slices.Contains(p.podOrder, src):
		from = topo.Pods[fmt.Sprintf("pod-%d", slices.Index(p.podOrder, src))].NS
		src = netip.Addr{}
	}
	dst := netip.AddrPortFrom(e.Packet.Dst, e.Packet.Port)
	proto := testnet.Proto(e.Packet.Protocol)
	where := fmt.Sprintf("%s, trace line %d: %s", mode, e.Line, e.Packet)
	switch e.Want {
	case "reject":
		if _, err := testnet.Ask(from, proto, src, dst, time.Second); !testnet.Refused(err) {
			t.Errorf("%s: %v, want it refused", where, err)
		}
		return
	case "drop":
		if _, err := testnet.Ask(from, proto, src, dst, 300*time.Millisecond); !testnet.TimedOut(err) {
			t.Errorf("%s: %v, want it dropped", where, err)
		}
		return
	}
	p.checkEndpoints(t, from, proto, src, e, where)
}

func (p *trafficPlan) checkEndpoints(t *testing.T, from *netns.NS, proto testnet.Proto, src netip.Addr, e tracer.Expectation, where string) {
	t.Helper()
	want := strings.Fields(e.Want)
	dst := netip.AddrPortFrom(e.Packet.Dst, e.Packet.Port)
	sender := e.Packet.Src
	seen := map[string]bool{}
	for range 10 + 12*len(want) {
		// Long enough for TCP to send a lost SYN again (after 1 s): two
		// connections that NAT onto one tuple at once lose one, rarely.
		a, err := testnet.Ask(from, proto, src, dst, 3*time.Second)
		if proto == testnet.UDP && testnet.TimedOut(err) {
			// UDP sends nothing again by itself.
			a, err = testnet.Ask(from, proto, src, dst, 3*time.Second)
		}
		if err != nil {
			t.Errorf("%s: %v, want %s", where, err, e.Want)
			return
		}
		got := a.Endpoint.String()
		if a.Endpoint == dst {
			got = "accept" // answered where it was sent: left alone
		}
		if a.Client.Addr() != sender {
			got += "+masq"
		}
		if !slices.Contains(want, got) {
			t.Errorf("%s: reached %s (seen from %s), want one of %s", where, got, a.Client, e.Want)
			return
		}
		seen[got] = true
	}
	if len(seen) != len(want) && !p.sticky {
		t.Errorf("%s: reached only %v of %s", where, seen, e.Want)
	}
}
