// Package model turns Kubernetes Services, EndpointSlices and the node into
// an immutable, per-IP-family description of what the node must proxy.
//
// The model is the contract between the API side (informers, files) and the
// renderers: every decision that does not depend on the rule language —
// which endpoints a given kind of traffic may reach, which addresses belong to
// which family, what is valid — is made here, once, so that the iptables and
// nftables renderers cannot disagree. Everything in a Model is sorted, so
// rendering it is deterministic.
package model

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Family is an IP family. The model and the rules are built per family.
type Family uint8

const (
	// IPv4 is the IPv4 family.
	IPv4 Family = 4
	// IPv6 is the IPv6 family.
	IPv6 Family = 6
)

// String returns "ipv4" or "ipv6".
func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// Families lists the families in rendering order.
var Families = []Family{IPv4, IPv6}

// FamilyOf returns the family of addr.
func FamilyOf(addr netip.Addr) Family {
	if addr.Is4() {
		return IPv4
	}
	return IPv6
}

// Protocol is a validated, lower-case L4 protocol name: "tcp", "udp" or
// "sctp", the spelling both iptables and nft accept.
type Protocol string

const (
	// TCP is the TCP protocol.
	TCP Protocol = "tcp"
	// UDP is the UDP protocol.
	UDP Protocol = "udp"
	// SCTP is the SCTP protocol.
	SCTP Protocol = "sctp"
)

// PortName identifies one port of one Service, as kube-proxy does.
type PortName struct {
	Namespace string
	Name      string
	// Port is the Service port's name; empty for an unnamed port.
	Port     string
	Protocol Protocol
}

// Compare orders port names as a Model's Services are sorted: by
// namespace, Service name, port name, then protocol.
func (n PortName) Compare(o PortName) int {
	// Field by field, stopping at the first that differs: cmp.Or would
	// compare all four first, and checking a Model's order compares
	// every pair of neighbours on every sync.
	if c := strings.Compare(n.Namespace, o.Namespace); c != 0 {
		return c
	}
	if c := strings.Compare(n.Name, o.Name); c != 0 {
		return c
	}
	if c := strings.Compare(n.Port, o.Port); c != 0 {
		return c
	}
	return cmp.Compare(n.Protocol, o.Protocol)
}

// String returns "namespace/name:port", or "namespace/name" for an unnamed
// port: the spelling kube-proxy hashes into chain names and prints in rule
// comments.
func (n PortName) String() string {
	s := n.Namespace + "/" + n.Name
	if n.Port != "" {
		s += ":" + n.Port
	}
	return s
}

// Endpoint is one backend of a ServicePort.
type Endpoint struct {
	IP   netip.Addr
	Port uint16
	// NodeName is the node the endpoint runs on, if the slice says.
	NodeName string
	// Zone is the endpoint's zone, if the slice says.
	Zone string
	// Local is true when the endpoint runs on this node.
	Local bool
	// Ready, Serving and Terminating are the EndpointSlice conditions, with
	// the API's defaults applied (nil ready/serving mean true).
	Ready       bool
	Serving     bool
	Terminating bool
	// ZoneHints and NodeHints are the topology hints, sorted.
	ZoneHints []string
	NodeHints []string
	// Hash is the kube-proxy endpoint chain hash (KUBE-SEP-<Hash>).
	Hash string
}

// String returns "ip:port", with brackets around IPv6 addresses.
func (e Endpoint) String() string {
	return netip.AddrPortFrom(e.IP, e.Port).String()
}

// ServicePort is one port of one Service in one family: everything the
// renderers need, already validated and with endpoint choice applied.
type ServicePort struct {
	Name PortName
	// Hash is the kube-proxy chain hash shared by KUBE-SVC-, KUBE-SVL-,
	// KUBE-EXT- and KUBE-FW- chains of this port.
	Hash string

	ClusterIP netip.Addr
	Port      uint16
	// NodePort is 0 when the port has none.
	NodePort uint16
	// ExternalIPs and LoadBalancerIPs are the port's external VIPs in this
	// family. Load balancer ingresses with ipMode Proxy are not included:
	// their traffic arrives at the node already addressed to a node IP.
	ExternalIPs     []netip.Addr
	LoadBalancerIPs []netip.Addr
	// SourceRanges are the loadBalancerSourceRanges of this family, and
	// Firewall says whether they apply. Ranges all of the other family
	// leave this family open, as kube-proxy does. When Firewall is true
	// but SourceRanges is empty, none of the Service's ranges parsed, and
	// its load balancer traffic is dropped rather than let through.
	SourceRanges []netip.Prefix
	Firewall     bool

	ExternalPolicyLocal bool
	InternalPolicyLocal bool
	// HealthCheckNodePort is set for externalTrafficPolicy Local.
	HealthCheckNodePort uint16
	// AffinitySeconds is the ClientIP session affinity timeout; 0 means no
	// affinity.
	AffinitySeconds int32

	// ClusterEndpoints are the endpoints traffic under the Cluster policy
	// may reach (ready ones, narrowed by topology, else serving-terminating
	// ones); LocalEndpoints those under a Local policy. Both are sorted.
	ClusterEndpoints []Endpoint
	LocalEndpoints   []Endpoint
	// HasEndpoints is true when any usable endpoint exists anywhere. A port
	// without any is rejected; one whose policy finds none is dropped.
	HasEndpoints bool
	// OtherServing are the serving endpoints of a UDP port that no new
	// traffic goes to: terminating ones while others are ready, and those
	// topology keeps from this node. Their flows go on, as kube-proxy
	// lets them (conntrack.ReconcileFilter); other ports leave it nil.
	OtherServing []netip.AddrPort
}

// ExternallyAccessible reports whether the port takes traffic from outside
// the cluster network (NodePort, external or load balancer IPs).
func (s *ServicePort) ExternallyAccessible() bool {
	return s.NodePort != 0 || len(s.ExternalIPs) > 0 || len(s.LoadBalancerIPs) > 0
}

// InternalEndpoints are the endpoints that traffic to the cluster IP may reach.
func (s *ServicePort) InternalEndpoints() []Endpoint {
	if s.InternalPolicyLocal {
		return s.LocalEndpoints
	}
	return s.ClusterEndpoints
}

// ExternalEndpoints are the endpoints that external traffic (NodePort,
// external and load balancer IPs) from outside the node may reach.
func (s *ServicePort) ExternalEndpoints() []Endpoint {
	if s.ExternalPolicyLocal {
		return s.LocalEndpoints
	}
	return s.ClusterEndpoints
}

// UsesClusterEndpoints reports whether some traffic uses ClusterEndpoints.
func (s *ServicePort) UsesClusterEndpoints() bool {
	// External traffic from pods and from the node itself falls back to the
	// cluster policy even under externalTrafficPolicy Local, because it does
	// not need its source preserved; that is why ExternallyAccessible ports
	// with a Local external policy still use cluster endpoints.
	return !s.InternalPolicyLocal || s.ExternallyAccessible()
}

// UsesLocalEndpoints reports whether some traffic uses LocalEndpoints.
func (s *ServicePort) UsesLocalEndpoints() bool {
	return s.InternalPolicyLocal || (s.ExternallyAccessible() && s.ExternalPolicyLocal)
}

// AllEndpoints returns every endpoint some traffic may reach: the union of
// ClusterEndpoints and LocalEndpoints where used, sorted and without
// duplicates. Renderers create one endpoint chain for each.
func (s *ServicePort) AllEndpoints() []Endpoint {
	var out []Endpoint
	if s.UsesClusterEndpoints() {
		out = append(out, s.ClusterEndpoints...)
	}
	if !s.UsesLocalEndpoints() {
		return out
	}
	seen := make(map[netip.AddrPort]bool, len(out))
	for _, ep := range out {
		seen[netip.AddrPortFrom(ep.IP, ep.Port)] = true
	}
	for _, ep := range s.LocalEndpoints {
		if !seen[netip.AddrPortFrom(ep.IP, ep.Port)] {
			out = append(out, ep)
		}
	}
	sortEndpoints(out)
	return out
}

// Node is the node the rules are built for.
type Node struct {
	Name string
	// IPs are the node's addresses, of this family in a Model.
	IPs []netip.Addr
	// LocalIPs are the addresses on the node's interfaces, which
	// --nodeport-addresses CIDRs match, as kube-proxy matches them; nil
	// where they are not known (a dry run), and IPs stand in.
	LocalIPs []netip.Addr
	// Zone is the node's v1.LabelTopologyZone label.
	Zone string
	// PodCIDRs are the node's spec.podCIDRs, the addresses of its own
	// pods, which DetectLocalNodeCIDR tells pod traffic by.
	PodCIDRs []netip.Prefix
}

// Config is the proxy configuration.
type Config struct {
	// ClusterCIDRs tell pod traffic from the rest: traffic to a cluster IP
	// from outside them is masqueraded. Empty means "cannot tell", and such
	// traffic keeps its source, as with kube-proxy without --cluster-cidr.
	ClusterCIDRs []netip.Prefix
	// DetectLocalNodeCIDR is kube-proxy's --detect-local-mode=NodeCIDR:
	// pod traffic is told by the node's PodCIDRs instead, and a Model
	// has them in ClusterCIDRs.
	DetectLocalNodeCIDR bool
	// PodInterface, when set, tells pod traffic by the interface it
	// arrives on instead of its source, and ClusterCIDRs go unused:
	// kube-proxy's --detect-local-mode BridgeInterface, the bridge's
	// name, or, with PodInterfacePrefix, InterfaceNamePrefix, a prefix
	// of the pods' interfaces' names. ParseInterfaceName checks it.
	PodInterface       string
	PodInterfacePrefix bool
	// MasqueradeBit is the fwmark bit (0–31) that marks packets for SNAT.
	MasqueradeBit int
	// MasqueradeAll masquerades all traffic to cluster IPs.
	MasqueradeAll bool
	// NodePortAddresses restricts which node addresses accept NodePort
	// traffic; empty means every local address in iptables mode and the
	// node's primary address of the family in nftables mode, as with
	// kube-proxy.
	NodePortAddresses []netip.Prefix
	// NodePortPrimary is kube-proxy's --nodeport-addresses=primary: only
	// the node's primary address of each family (Node.Primary) accepts
	// NodePort traffic. A Model has it resolved into NodePortAddresses.
	NodePortPrimary bool
	// LocalhostNodePorts is kube-proxy's --iptables-localhost-nodeports:
	// iptables mode also serves IPv4 NodePorts on the loopback addresses,
	// where NodePortAddresses admits them (Model.LocalhostNodePorts).
	// nftables mode never does, as kube-proxy's does not.
	LocalhostNodePorts bool
	// NodePortRange is the API server's node port range; node ports and
	// health check node ports outside it are skipped. The zero value is
	// DefaultNodePortRange.
	NodePortRange PortRange
	// ExternalIPCIDRs, when set, are the only ranges whose external and
	// load balancer IPs are honoured; others are skipped with a warning.
	// Without it any may be, as in kube-proxy, and a Service's author
	// can take any address's traffic on the Service's ports
	// (CVE-2020-8554).
	ExternalIPCIDRs []netip.Prefix
	// NFAcctCounters is whether kube-proxy's nfacct counters exist on the
	// node, for iptables rules to count dropped INVALID packets and
	// localhost NodePort packets in, as kube-proxy's do.
	NFAcctCounters bool
	// TCPBeLiberal is the node's nf_conntrack_tcp_be_liberal: conntrack
	// then marks only out-of-window resets INVALID, so iptables mode
	// forwards INVALID packets rather than drop them, as kube-proxy does.
	TCPBeLiberal bool
}

// DefaultMasqueradeBit is kube-proxy's default masquerade bit.
const DefaultMasqueradeBit = 14

// MasqueradeMark returns the fwmark value of the masquerade bit.
func (c Config) MasqueradeMark() uint32 {
	return 1 << uint(c.MasqueradeBit)
}

// MasqueradeMarkHex returns MasqueradeMark as "0x4000".
func (c Config) MasqueradeMarkHex() string {
	return "0x" + strconv.FormatUint(uint64(c.MasqueradeMark()), 16)
}

// PortsInOrder reports whether ports are in a Model's order, each name
// once: what code that walks two Models side by side relies on.
func PortsInOrder(ports []*ServicePort) bool {
	for i := 1; i < len(ports); i++ {
		if ports[i-1].Name.Compare(ports[i].Name) >= 0 {
			return false
		}
	}
	return true
}

// Model is the desired proxy state of one IP family. It is immutable once
// built: renderers read it, nothing writes it.
type Model struct {
	Family Family
	Node   Node
	// Config holds the configuration, its CIDRs narrowed to this family.
	Config Config
	// Services is sorted by port name and protocol.
	Services []*ServicePort
	// ServiceCIDRs are the family's ranges of cluster IPs, sorted: an
	// address in them that no Service holds is allocated to none.
	ServiceCIDRs []netip.Prefix
}

// MayHairpin reports whether ep can be its own client through this
// node's rules, so that its traffic to sp must be masqueraded: its reply
// would otherwise go from its own address straight back to itself and
// be dropped. A pod's traffic to a cluster IP is rewritten on the pod's
// own node, so there only an endpoint on this node can reach itself; an
// endpoint whose node is unknown is taken as possibly local. But pods
// anywhere in the cluster CIDRs skip a Local external policy for the
// cluster endpoints, on whichever node their traffic to a NodePort or
// external IP arrives, so every endpoint of such a port can.
func (m *Model) MayHairpin(sp *ServicePort, ep Endpoint) bool {
	return ep.Local || ep.NodeName == "" || sp.ExternalPolicyLocal && m.Config.TellsPods()
}

// TellsPods reports whether pod traffic can be told from the rest: by
// its interface, or its source in ClusterCIDRs. kube-proxy without a
// way to tell ("no-op detect-local") masquerades no cluster IP traffic
// and lets no pod skip a Local external policy.
func (c Config) TellsPods() bool { return c.PodInterface != "" || len(c.ClusterCIDRs) > 0 }

// NodePortStyle is how a backend reads NodePortAddresses, where
// kube-proxy's modes read it differently.
type NodePortStyle struct {
	// PrimaryByDefault: no NodePortAddresses admits the node's primary
	// address of the family (nftables mode), not every address.
	PrimaryByDefault bool
	// Localhost: the loopback addresses take NodePort traffic when
	// LocalhostNodePorts holds (iptables mode).
	Localhost bool
}

// NodePortIPs returns the node addresses that accept NodePort traffic,
// or all true for every local address: kube-proxy's meaning of
// NodePortAddresses, where a zero-length prefix admits every address
// and, when none is given, style.PrimaryByDefault admits the node's
// primary address of the family, or every address if it has none.
// Loopback addresses are among the interfaces' addresses only where
// style.Localhost and LocalhostNodePorts hold.
func (m *Model) NodePortIPs(style NodePortStyle) (ips []netip.Addr, all bool) {
	cidrs := m.Config.NodePortAddresses
	if len(cidrs) == 0 {
		if ip, ok := m.Node.Primary(m.Family); ok && style.PrimaryByDefault {
			return []netip.Addr{ip}, false
		}
		return nil, true
	}
	for _, p := range cidrs {
		if p.Bits() == 0 {
			return nil, true
		}
	}
	candidates, local := m.Node.LocalIPs, true
	if candidates == nil {
		candidates, local = m.Node.IPs, false
	}
	loopback := style.Localhost && m.LocalhostNodePorts()
	for _, ip := range candidates {
		if FamilyOf(ip) == m.Family && (!local || loopback || !ip.IsLoopback()) && slices.ContainsFunc(cidrs, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			ips = append(ips, ip)
		}
	}
	return ips, false
}

// LocalhostNodePorts reports whether this family's NodePorts are served
// on the loopback addresses in iptables mode (Config.LocalhostNodePortsFor).
func (m *Model) LocalhostNodePorts() bool { return m.Config.LocalhostNodePortsFor(m.Family) }

// LocalhostNodePortsFor reports whether iptables mode serves a family's
// NodePorts on its loopback addresses, as kube-proxy decides it: only for
// IPv4, where route_localnet can make them work, when LocalhostNodePorts
// asks for them and NodePortAddresses, if it has any prefix of the
// family, has one that overlaps 127.0.0.0/8.
func (c Config) LocalhostNodePortsFor(f Family) bool {
	if f != IPv4 || !c.LocalhostNodePorts || c.NodePortPrimary {
		return false
	}
	any4 := false
	for _, p := range c.NodePortAddresses {
		if !p.Addr().Is4() {
			continue
		}
		if p.Addr().IsLoopback() || p.Contains(ipv4LoopbackNet) {
			return true
		}
		any4 = true
	}
	return !any4
}

// ipv4LoopbackNet is the first address of 127.0.0.0/8.
var ipv4LoopbackNet = netip.AddrFrom4([4]byte{127, 0, 0, 0})
