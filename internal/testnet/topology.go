package testnet

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
)

// Fixed addresses of the node and the external namespace; see the
// address plan in the package documentation.
var (
	// NodeIPv4 is the node's IPv4 address, on its link to the external
	// namespace: the address NodePorts and external clients use.
	NodeIPv4 = netip.MustParseAddr("192.168.0.10")
	// NodeIPv6 is the node's IPv6 address, on its link to the external
	// namespace.
	NodeIPv6 = netip.MustParseAddr("fd00:192::10")
	// ExternalIPv4 is the external namespace's own IPv4 address, and the
	// node's next hop for every external client address.
	ExternalIPv4 = netip.MustParseAddr("192.168.0.100")
	// ExternalIPv6 is the external namespace's own IPv6 address.
	ExternalIPv6 = netip.MustParseAddr("fd00:192::100")
)

const (
	// externalBitsV4 and externalBitsV6 are the prefix lengths of the
	// node–external link.
	externalBitsV4, externalBitsV6 = 24, 64
	// nodeExternalLink and podLink name the two ends of the veths; a pod's
	// or the external namespace's end is always eth0, like a real one.
	nodeExternalLink = "ext0"
	podLink          = "eth0"
)

// PodSpec is what a test asks for in one pod: its name and addresses.
// Either address may be left zero for a single-stack pod, not both.
type PodSpec struct {
	// Name identifies the pod in Topology.Pods.
	Name string
	// IPv4 is the pod's address; its /24 belongs to this pod alone and
	// the node side of the pod's veth takes the .1 of it.
	IPv4 netip.Addr
	// IPv6 is the pod's address; its /64 belongs to this pod alone and
	// the node side of the pod's veth takes the ::1 of it.
	IPv6 netip.Addr
	// LinkName names the node's end of the pod's veth, for rules that
	// match the input interface (cbr0, veth1a2b); default vpodN.
	LinkName string
	// Routed wires the pod as Calico does instead: its addresses alone
	// (/32, /128), routed by the node on the pod's veth, and a link-local
	// gateway (RoutedGatewayIPv4, fe80::1). Any address will do then,
	// and several pods may share a subnet, as scenarios written for
	// other setups put them.
	Routed bool
}

// RoutedGatewayIPv4 is the node's address on the veth of every Routed
// pod: the source a masqueraded packet to such a pod has.
var RoutedGatewayIPv4 = netip.MustParseAddr("169.254.1.1")

// routedGatewayIPv6 is the node's link-local address on a Routed pod's
// veth, and RoutedMasqueradeIPv6 its global one there: the source a
// masqueraded packet to such a pod has, which no other address shares,
// so a test can tell a masqueraded packet from the node's own.
var (
	routedGatewayIPv6    = netip.MustParseAddr("fe80::1")
	RoutedMasqueradeIPv6 = netip.MustParseAddr("fd00:ffff::1")
)

// Pod is a pod namespace wired to the node.
type Pod struct {
	// Name is the PodSpec's name.
	Name string
	// NS is the pod's network namespace.
	NS *netns.NS
	// IPv4 and IPv6 are the pod's addresses (zero if not asked for).
	IPv4, IPv6 netip.Addr
	// GatewayIPv4 and GatewayIPv6 are the node's addresses on the pod's
	// veth, the pod's default routes.
	GatewayIPv4, GatewayIPv6 netip.Addr
	// NodeLink is the name of the node's end of the pod's veth, for rules
	// that match on the interface.
	NodeLink string
	routed   bool
}

// Topology is a node namespace with pods and an external client wired
// to it. Everything in it is deleted when the test that made it ends.
type Topology struct {
	// Node is where the proxy's rules go.
	Node *netns.NS
	// External stands for the world outside the cluster.
	External *netns.NS
	// Pods holds the pods by name.
	Pods map[string]*Pod
}

// New builds the topology described in the package documentation, with
// one pod per spec. It skips t when not run as root and fails t on any
// error; every namespace is deleted when t ends, even on failure. t may
// be a benchmark's.
func New(t testing.TB, pods ...PodSpec) *Topology {
	t.Helper()
	netnstest.RequireRoot(t)
	if err := validate(pods); err != nil {
		t.Fatalf("building test topology: %v", err)
	}
	topo := &Topology{Node: netnstest.New(t), External: netnstest.New(t), Pods: map[string]*Pod{}}
	for _, spec := range pods {
		topo.Pods[spec.Name] = newPod(spec, len(topo.Pods), netnstest.New(t))
	}
	if err := topo.configure(pods); err != nil {
		t.Fatalf("building test topology: %v", err)
	}
	return topo
}

// newPod fills in the node side of a pod's veth from its spec.
func newPod(spec PodSpec, index int, ns *netns.NS) *Pod {
	p := &Pod{Name: spec.Name, NS: ns, IPv4: spec.IPv4, IPv6: spec.IPv6, NodeLink: fmt.Sprintf("vpod%d", index), routed: spec.Routed}
	if spec.LinkName != "" {
		p.NodeLink = spec.LinkName
	}
	if spec.Routed {
		if spec.IPv4.IsValid() {
			p.GatewayIPv4 = RoutedGatewayIPv4
		}
		if spec.IPv6.IsValid() {
			p.GatewayIPv6 = routedGatewayIPv6
		}
		return p
	}
	if spec.IPv4.IsValid() {
		p.GatewayIPv4 = firstHost(netip.PrefixFrom(spec.IPv4, 24))
	}
	if spec.IPv6.IsValid() {
		p.GatewayIPv6 = firstHost(netip.PrefixFrom(spec.IPv6, 64))
	}
	return p
}

// firstHost is the .1 (or ::1) of prefix's network.
func firstHost(prefix netip.Prefix) netip.Addr {
	return prefix.Masked().Addr().Next()
}

// validate rejects specs that would make a broken network, before any
// namespace is made.
func validate(pods []PodSpec) error {
	names := map[string]bool{}
	subnets := map[netip.Prefix]string{}
	for _, spec := range pods {
		if spec.Name == "" || names[spec.Name] {
			return fmt.Errorf("pod name %q is empty or repeated", spec.Name)
		}
		names[spec.Name] = true
		if !spec.IPv4.IsValid() && !spec.IPv6.IsValid() {
			return fmt.Errorf("pod %s has no address", spec.Name)
		}
		if spec.Routed {
			continue
		}
		for _, c := range []struct {
			addr   netip.Addr
			bits   int
			family func(netip.Addr) bool
		}{{spec.IPv4, 24, netip.Addr.Is4}, {spec.IPv6, 64, netip.Addr.Is6}} {
			if !c.addr.IsValid() {
				continue
			}
			subnet := netip.PrefixFrom(c.addr, c.bits).Masked()
			if !c.family(c.addr) || c.addr == subnet.Addr() || c.addr == firstHost(subnet) {
				return fmt.Errorf("pod %s: %s is not a usable host address of the right family (.0/.1 and ::/::1 are taken)", spec.Name, c.addr)
			}
			// Two pods in one subnet would put the same gateway address on
			// two node interfaces, and the node could reach only one.
			if other, ok := subnets[subnet]; ok {
				return fmt.Errorf("pods %s and %s share subnet %s; give each pod its own", other, spec.Name, subnet)
			}
			subnets[subnet] = spec.Name
		}
	}
	return nil
}

// configure sets the kernel up and wires every namespace to the node.
func (topo *Topology) configure(specs []PodSpec) error {
	all := []*netns.NS{topo.Node, topo.External}
	for _, spec := range specs {
		all = append(all, topo.Pods[spec.Name].NS)
	}
	for _, ns := range all {
		if err := writeSysctls(ns, baseSysctls); err != nil {
			return err
		}
	}
	if err := writeSysctls(topo.Node, forwardingSysctls); err != nil {
		return err
	}
	if err := topo.wireExternal(); err != nil {
		return err
	}
	for _, spec := range specs {
		if err := topo.wirePod(topo.Pods[spec.Name]); err != nil {
			return err
		}
	}
	return nil
}

// sysctl is one /proc/sys key (below /proc/sys) and its value.
type sysctl struct{ key, value string }

// baseSysctls apply to every namespace. They are set before any veth is
// made, so each new interface takes the defaults: no duplicate address
// detection, so IPv6 addresses are usable at once. No ICMP type is rate
// limited (an empty mask: a number for IPv4, a list for IPv6), so every
// rejected packet gets its port unreachable and a burst of refused
// connections never looks dropped.
var baseSysctls = []sysctl{
	{"net/ipv6/conf/all/accept_dad", "0"},
	{"net/ipv6/conf/default/accept_dad", "0"},
	{"net/ipv4/icmp_ratemask", "0"},
	{"net/ipv6/icmp/ratemask", "\n"},
}

// forwardingSysctls make the node a router between its namespaces.
var forwardingSysctls = []sysctl{
	{"net/ipv4/ip_forward", "1"},
	{"net/ipv6/conf/all/forwarding", "1"},
}

// wireExternal links the external namespace to the node; the external
// side routes everything through the node and the node's default route
// points back out, as a real node's does at its upstream router.
func (topo *Topology) wireExternal() error {
	if err := addVeth(topo.Node, nodeExternalLink, topo.External, podLink); err != nil {
		return err
	}
	node := []string{
		"link set lo up",
		fmt.Sprintf("addr add %s/%d dev %s", NodeIPv4, externalBitsV4, nodeExternalLink),
		fmt.Sprintf("addr add %s/%d dev %s nodad", NodeIPv6, externalBitsV6, nodeExternalLink),
		"link set " + nodeExternalLink + " up",
		"route add default via " + ExternalIPv4.String(),
		"route add default via " + ExternalIPv6.String(),
	}
	external := []string{
		"link set lo up",
		fmt.Sprintf("addr add %s/%d dev %s", ExternalIPv4, externalBitsV4, podLink),
		fmt.Sprintf("addr add %s/%d dev %s nodad", ExternalIPv6, externalBitsV6, podLink),
		"link set " + podLink + " up",
		"route add default via " + NodeIPv4.String(),
		"route add default via " + NodeIPv6.String(),
	}
	if err := ipBatch(topo.Node, node); err != nil {
		return err
	}
	return ipBatch(topo.External, external)
}

// wirePod links one pod to the node with its own subnet per family.
func (topo *Topology) wirePod(p *Pod) error {
	if err := addVeth(topo.Node, p.NodeLink, p.NS, podLink); err != nil {
		return err
	}
	node := []string{"link set " + p.NodeLink + " up"}
	pod := []string{"link set lo up", "link set " + podLink + " up"}
	if p.routed {
		node, pod = routedPodLines(p, node, pod)
	} else if p.IPv4.IsValid() {
		node = append(node, fmt.Sprintf("addr add %s/24 dev %s", p.GatewayIPv4, p.NodeLink))
		pod = append(pod, fmt.Sprintf("addr add %s/24 dev %s", p.IPv4, podLink), "route add default via "+p.GatewayIPv4.String())
	}
	if p.IPv6.IsValid() && !p.routed {
		node = append(node, fmt.Sprintf("addr add %s/64 dev %s nodad", p.GatewayIPv6, p.NodeLink))
		pod = append(pod, fmt.Sprintf("addr add %s/64 dev %s nodad", p.IPv6, podLink), "route add default via "+p.GatewayIPv6.String())
	}
	if err := ipBatch(topo.Node, node); err != nil {
		return fmt.Errorf("wiring pod %s: %w", p.Name, err)
	}
	if err := ipBatch(p.NS, pod); err != nil {
		return fmt.Errorf("wiring pod %s: %w", p.Name, err)
	}
	return nil
}

// routedPodLines adds the ip commands that wire a Routed pod: the
// gateway on the node's end, the pod's addresses routed to it.
func routedPodLines(p *Pod, node, pod []string) ([]string, []string) {
	if p.IPv4.IsValid() {
		node = append(node, fmt.Sprintf("addr add %s/32 dev %s", p.GatewayIPv4, p.NodeLink), fmt.Sprintf("route add %s/32 dev %s", p.IPv4, p.NodeLink))
		pod = append(pod, fmt.Sprintf("addr add %s/32 dev %s", p.IPv4, podLink),
			fmt.Sprintf("route add %s dev %s", p.GatewayIPv4, podLink), "route add default via "+p.GatewayIPv4.String())
	}
	if p.IPv6.IsValid() {
		node = append(node, fmt.Sprintf("addr add %s/64 dev %s nodad", p.GatewayIPv6, p.NodeLink),
			fmt.Sprintf("addr add %s/128 dev %s nodad", RoutedMasqueradeIPv6, p.NodeLink), fmt.Sprintf("route add %s/128 dev %s", p.IPv6, p.NodeLink))
		pod = append(pod, fmt.Sprintf("addr add %s/128 dev %s nodad", p.IPv6, podLink),
			fmt.Sprintf("route add default via %s dev %s", p.GatewayIPv6, podLink))
	}
	return node, pod
}

// addVeth creates a veth pair with one end in each namespace. The kernel
// creates each end directly in its namespace, so nothing ever appears in
// the host's own namespace, even for a moment.
func addVeth(a *netns.NS, aName string, b *netns.NS, bName string) error {
	out, err := exec.Command("ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("creating veth %s/%s between %s and %s: %w: %s", aName, bName, a.Name, b.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ipBatch runs ip commands (without the leading "ip") inside ns in one
// process, which keeps building a topology fast.
func ipBatch(ns *netns.NS, lines []string) error {
	cmd := exec.Command("ip", "-n", ns.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("configuring %s with ip -batch: %w: %s", ns.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
