package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func nodeObject(labels map[string]string, addrs ...v1.NodeAddress) *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: labels},
		Status:     v1.NodeStatus{Addresses: addrs},
	}
}

func addr(t v1.NodeAddressType, a string) v1.NodeAddress {
	return v1.NodeAddress{Type: t, Address: a}
}

type nodeFromObjectCase struct {
	name      string
	node      *v1.Node
	want      Node
	wantWarns []string
}

var nodeFromObjectCases = []nodeFromObjectCase{
	{
		name: "internal and external IPs",
		node: nodeObject(nil,
			addr(v1.NodeInternalIP, "192.168.0.10"),
			addr(v1.NodeHostName, "node-a"),
			addr(v1.NodeExternalIP, "198.51.100.10"),
			addr(v1.NodeInternalDNS, "node-a.internal"),
			addr(v1.NodeExternalDNS, "node-a.example.com"),
		),
		want: Node{Name: "node-a", IPs: []netip.Addr{
			netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("198.51.100.10"),
		}},
	},
	{
		name: "dual stack with IPv6",
		node: nodeObject(nil,
			addr(v1.NodeInternalIP, "fd00:192::10"),
			addr(v1.NodeInternalIP, "192.168.0.10"),
			addr(v1.NodeExternalIP, "FD00:192::11"),
		),
		want: Node{Name: "node-a", IPs: []netip.Addr{
			netip.MustParseAddr("fd00:192::10"), netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("fd00:192::11"),
		}},
	},
	{
		name: "internal IPs before external ones, whatever the status order",
		node: nodeObject(nil,
			addr(v1.NodeExternalIP, "198.51.100.10"),
			addr(v1.NodeInternalIP, "192.168.0.10"),
		),
		want: Node{Name: "node-a", IPs: []netip.Addr{
			netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("198.51.100.10"),
		}},
	},
	{
		name: "duplicates dropped",
		node: nodeObject(nil, addr(v1.NodeInternalIP, "192.168.0.10"), addr(v1.NodeExternalIP, "192.168.0.10")),
		want: Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10")}},
	},
	{
		name: "zone label",
		node: nodeObject(map[string]string{v1.LabelTopologyZone: "zone-a", v1.LabelTopologyRegion: "r"}, addr(v1.NodeInternalIP, "192.168.0.10")),
		want: Node{Name: "node-a", Zone: "zone-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10")}},
	},
	{
		name: "bad addresses reported and left out",
		node: nodeObject(nil,
			addr(v1.NodeInternalIP, "192.168.0.300"),
			addr(v1.NodeInternalIP, "192.168.0.10"),
			addr(v1.NodeExternalIP, ""),
			addr(v1.NodeExternalIP, "::ffff:192.168.0.11"),
		),
		want: Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10")}},
		wantWarns: []string{
			`Node node-a: ignoring InternalIP address: "192.168.0.300" is not an IP address`,
			`Node node-a: ignoring ExternalIP address: empty IP address`,
			`Node node-a: ignoring ExternalIP address: "::ffff:192.168.0.11" is an IPv4-mapped IPv6 address`,
		},
	},
	{
		name: "no addresses",
		node: nodeObject(nil),
		want: Node{Name: "node-a"},
	},
	{
		name: "nil node",
		want: Node{},
	},
}

func TestNodeFromObject(t *testing.T) {
	for _, tt := range nodeFromObjectCases {
		t.Run(tt.name, func(t *testing.T) {
			got, warns := NodeFromObject(tt.node)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("NodeFromObject() (-want +got):\n%s", diff)
			}
			var gotWarns []string
			for _, w := range warns {
				gotWarns = append(gotWarns, w.String())
			}
			if diff := cmp.Diff(tt.wantWarns, gotWarns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodePrimary(t *testing.T) {
	n := Node{IPs: []netip.Addr{
		netip.MustParseAddr("fd00:192::10"), netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("192.168.0.11"),
	}}
	for _, tc := range []struct {
		fam  Family
		want string
	}{{IPv4, "192.168.0.10"}, {IPv6, "fd00:192::10"}} {
		if got, ok := n.Primary(tc.fam); !ok || got.String() != tc.want {
			t.Errorf("Primary(%s) = %v, %v; want %s", tc.fam, got, ok, tc.want)
		}
	}
	if got, ok := (Node{}).Primary(IPv4); ok {
		t.Errorf("Primary of a node without addresses = %v, want none", got)
	}
}

func TestNodePortIPs(t *testing.T) {
	nftStyle, iptStyle := NodePortStyle{PrimaryByDefault: true}, NodePortStyle{Localhost: true}
	v4, v4b := netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("198.51.100.10")
	node := Node{IPs: []netip.Addr{v4, netip.MustParseAddr("fd00:192::10"), v4b}}
	prefixes := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		node      Node
		cidrs     []netip.Prefix
		style     NodePortStyle
		localhost bool // Config.LocalhostNodePorts
		want      []netip.Addr
		wantAll   bool
	}{
		{name: "iptables default: every local address", node: node, wantAll: true},
		{name: "nftables default: the primary address", node: node, style: nftStyle, want: []netip.Addr{v4}},
		{name: "nftables default without a primary address: every address", style: nftStyle, wantAll: true},
		{name: "CIDRs pick node addresses of the family", node: node, cidrs: prefixes("198.51.100.0/24", "fd00::/8"), want: []netip.Addr{v4b}},
		{name: "a zero-length prefix admits every address", node: node, cidrs: prefixes("0.0.0.0/0"), style: nftStyle, wantAll: true},
		{name: "CIDRs matching nothing admit nothing", node: node, cidrs: prefixes("10.9.0.0/16")},
		{name: "CIDRs match the interface addresses where they are known", cidrs: prefixes("198.51.100.0/24", "127.0.0.0/8"),
			node: Node{IPs: []netip.Addr{v4}, LocalIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), v4, v4b}}, want: []netip.Addr{v4b}},
		{name: "iptables localhost NodePorts admit loopback addresses", cidrs: prefixes("198.51.100.0/24", "127.0.0.0/8"),
			style: iptStyle, localhost: true, want: []netip.Addr{netip.MustParseAddr("127.0.0.1"), v4b},
			node: Node{IPs: []netip.Addr{v4}, LocalIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), v4, v4b}}},
		{name: "nftables never admits loopback addresses", cidrs: prefixes("198.51.100.0/24", "127.0.0.0/8"),
			style: nftStyle, localhost: true, want: []netip.Addr{v4b},
			node: Node{IPs: []netip.Addr{v4}, LocalIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), v4, v4b}}},
		{name: "no interface address admitted", cidrs: prefixes("198.51.100.0/24"),
			node: Node{IPs: []netip.Addr{v4b}, LocalIPs: []netip.Addr{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Model{Family: IPv4, Node: tc.node, Config: Config{NodePortAddresses: tc.cidrs, LocalhostNodePorts: tc.localhost}}
			got, all := m.NodePortIPs(tc.style)
			if all != tc.wantAll || !slices.Equal(got, tc.want) {
				t.Errorf("NodePortIPs = %v, all %v; want %v, all %v", got, all, tc.want, tc.wantAll)
			}
		})
	}
}

func TestLocalhostNodePorts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		family  Family
		off     bool // Config.LocalhostNodePorts false
		primary bool // Config.NodePortPrimary
		cidrs   []string
		want    bool
	}{
		{name: "IPv4 without NodePortAddresses", family: IPv4, want: true},
		{name: "IPv6 never", family: IPv6},
		{name: "turned off", family: IPv4, off: true},
		{name: "CIDRs without loopback", family: IPv4, cidrs: []string{"10.0.0.0/8"}},
		{name: "a CIDR inside 127.0.0.0/8", family: IPv4, cidrs: []string{"10.0.0.0/8", "127.0.0.1/32"}, want: true},
		{name: "a CIDR around 127.0.0.0/8", family: IPv4, cidrs: []string{"96.0.0.0/3"}, want: true},
		{name: "CIDRs of the other family only: every IPv4 address", family: IPv4, cidrs: []string{"fd00::/8"}, want: true},
		{name: "primary", family: IPv4, primary: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{LocalhostNodePorts: !tc.off, NodePortPrimary: tc.primary}
			for _, c := range tc.cidrs {
				cfg.NodePortAddresses = append(cfg.NodePortAddresses, netip.MustParsePrefix(c))
			}
			m := &Model{Family: tc.family, Config: cfg}
			if got := m.LocalhostNodePorts(); got != tc.want {
				t.Errorf("LocalhostNodePorts() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseNodePortAddresses(t *testing.T) {
	if cidrs, primary, err := ParseNodePortAddresses([]string{"primary"}); err != nil || !primary || cidrs != nil {
		t.Errorf(`"primary" = %v, %v, %v; want primary`, cidrs, primary, err)
	}
	if cidrs, primary, err := ParseNodePortAddresses([]string{"10.0.0.0/8"}); err != nil || primary || len(cidrs) != 1 {
		t.Errorf(`"10.0.0.0/8" = %v, %v, %v; want one CIDR`, cidrs, primary, err)
	}
	if _, _, err := ParseNodePortAddresses([]string{"primary", "10.0.0.0/8"}); err == nil {
		t.Error(`"primary" with a CIDR: no error, want one as kube-proxy gives`)
	}
}

func TestPrimaryResolvedPerFamily(t *testing.T) {
	node := Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("192.168.0.11")}}
	cfg := configOfFamily(Config{NodePortPrimary: true}, IPv4, node)
	if want := []netip.Prefix{netip.MustParsePrefix("192.168.0.10/32")}; !slices.Equal(cfg.NodePortAddresses, want) {
		t.Errorf("IPv4 NodePortAddresses = %v, want %v", cfg.NodePortAddresses, want)
	}
	if cfg := configOfFamily(Config{NodePortPrimary: true}, IPv6, node); cfg.NodePortAddresses != nil {
		t.Errorf("IPv6 without a primary address: NodePortAddresses = %v, want none", cfg.NodePortAddresses)
	}
}

func TestNodeOfFamilyKeepsThePrimaryFirst(t *testing.T) {
	node := Node{IPs: []netip.Addr{
		netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("fd00:192::10"),
		netip.MustParseAddr("192.168.0.11"), netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("192.168.0.11"),
	}}
	got := nodeOfFamily(node, IPv4).IPs
	want := []netip.Addr{netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("192.168.0.11")}
	if !slices.Equal(got, want) {
		t.Errorf("IPv4 addresses = %v, want %v: the primary first, then the rest sorted", got, want)
	}
}

// TestDetectLocalNodeCIDR builds with --detect-local-mode NodeCIDR: each
// family's pod network is the Node's pod CIDR of that family, whatever
// --cluster-cidr says, and none where the Node has none.
func TestDetectLocalNodeCIDR(t *testing.T) {
	obj := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
		Spec:   v1.NodeSpec{PodCIDRs: []string{"10.1.1.0/24", "not-a-cidr"}},
		Status: v1.NodeStatus{Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "192.168.0.10"}, {Type: v1.NodeInternalIP, Address: "fd00:192::10"}}}}
	node, warns := NodeFromObject(obj)
	if len(warns) != 1 || !strings.Contains(warns[0].Reason, "not-a-cidr") {
		t.Errorf("warnings %v, want one for the bad pod CIDR", warns)
	}
	cfg := Config{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, DetectLocalNodeCIDR: true}
	models, _ := Build(Input{Node: node}, cfg)
	want := map[Family]string{IPv4: "[10.1.1.0/24]", IPv6: "[]"}
	for _, m := range models {
		if got := fmt.Sprint(m.Config.ClusterCIDRs); got != want[m.Family] {
			t.Errorf("%s pod network %s, want %s", m.Family, got, want[m.Family])
		}
	}
}

func TestParseInterfaceName(t *testing.T) {
	for name, ok := range map[string]bool{
		"veth": true, "cbr0": true, "eth0.100": true, "br-1a2b_3": true, "abcdefghijklmno": true,
		"": false, "abcdefghijklmnop": false, `eth0"`: false, "eth0 accept": false, "veth+": false, "veth*": false,
	} {
		if _, err := ParseInterfaceName(name); (err == nil) != ok {
			t.Errorf("ParseInterfaceName(%q) = %v, want ok %v", name, err, ok)
		}
	}
}
