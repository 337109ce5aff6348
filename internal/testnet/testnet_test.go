package testnet

// Test address plan (see the package documentation for the topology):
//
//	pod-a      10.1.1.5       fd00:1:1::5     gateway 10.1.1.1 / fd00:1:1::1
//	pod-b      10.1.2.5       fd00:1:2::5     gateway 10.1.2.1 / fd00:1:2::1
//	node       192.168.0.10   fd00:192::10    LB VIP 192.0.2.10/32 on lo
//	external   192.168.0.100  fd00:192::100   clients 203.0.113.7, 2001:db8:203::7
//
// Echo servers listen on TCP 8080 and UDP 5353; nothing listens on 9999.

import (
	"bufio"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
)

var (
	podA = PodSpec{Name: "pod-a", IPv4: netip.MustParseAddr("10.1.1.5"), IPv6: netip.MustParseAddr("fd00:1:1::5")}
	podB = PodSpec{Name: "pod-b", IPv4: netip.MustParseAddr("10.1.2.5"), IPv6: netip.MustParseAddr("fd00:1:2::5")}

	extClient4 = netip.MustParseAddr("203.0.113.7")
	extClient6 = netip.MustParseAddr("2001:db8:203::7")
	lbVIP      = netip.MustParsePrefix("192.0.2.10/32")

	echoPorts = []Port{{TCP, 8080}, {UDP, 5353}}
)

const (
	tcpPort, udpPort, closedPort = 8080, 5353, 9999
	// answerTimeout is generous, as an answer normally takes well under
	// a millisecond; dropTimeout is what a test that expects a drop waits.
	answerTimeout = 2 * time.Second
	dropTimeout   = 300 * time.Millisecond
)

func ap(addr netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(addr, port) }

// newTestTopology builds the two-pod topology with echo servers in both
// pods and one external client address per family.
func newTestTopology(t *testing.T) *Topology {
	t.Helper()
	topo := New(t, podA, podB)
	for _, p := range topo.Pods {
		p.StartEcho(t, echoPorts...)
	}
	topo.AddExternalClient(t, extClient4)
	topo.AddExternalClient(t, extClient6)
	return topo
}

// TestTopology checks the harness against a kernel with no proxy rules,
// then that it left no namespace and no stray thread behind.
func TestTopology(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	var ours []string
	t.Run("traffic", func(t *testing.T) {
		topo := newTestTopology(t)
		ours = append(ours, topo.Node.Name, topo.External.Name)
		for _, p := range topo.Pods {
			ours = append(ours, p.NS.Name)
		}
		t.Run("sysctls", func(t *testing.T) { checkSysctls(t, topo) })
		t.Run("answers", func(t *testing.T) { checkAnswers(t, topo) })
		t.Run("refused", func(t *testing.T) { checkRefused(t, topo) })
		t.Run("node address", func(t *testing.T) { checkNodeAddr(t, topo) })
		t.Run("ask many", func(t *testing.T) { checkAskMany(t, topo) })
		// Last, as it leaves a drop rule in the node.
		t.Run("dropped", func(t *testing.T) { checkDropped(t, topo) })
	})
	// Only our own names are checked: tests of other packages may be
	// making and deleting namespaces of their own meanwhile.
	left := namespaces(t)
	for _, name := range ours {
		if left[name] {
			t.Errorf("namespace %s left behind", name)
		}
	}
	checkThreadsHome(t)
}

// checkAnswers asks every kind of client for an echo and checks which
// endpoint answered and which source it saw.
func checkAnswers(t *testing.T, topo *Topology) {
	a, b := topo.Pods["pod-a"], topo.Pods["pod-b"]
	tests := []struct {
		name       string
		from       *netns.NS
		proto      Proto
		src        netip.Addr
		dst        netip.AddrPort
		wantClient netip.Addr
	}{
		{"node to pod-a tcp", topo.Node, TCP, netip.Addr{}, ap(a.IPv4, tcpPort), a.GatewayIPv4},
		{"node to pod-a udp", topo.Node, UDP, netip.Addr{}, ap(a.IPv4, udpPort), a.GatewayIPv4},
		{"node to pod-b tcp", topo.Node, TCP, netip.Addr{}, ap(b.IPv4, tcpPort), b.GatewayIPv4},
		{"node to pod-b udp", topo.Node, UDP, netip.Addr{}, ap(b.IPv4, udpPort), b.GatewayIPv4},
		{"pod-a to pod-b tcp", a.NS, TCP, netip.Addr{}, ap(b.IPv4, tcpPort), a.IPv4},
		{"pod-b to pod-a udp", b.NS, UDP, netip.Addr{}, ap(a.IPv4, udpPort), b.IPv4},
		{"external to pod-a tcp", topo.External, TCP, netip.Addr{}, ap(a.IPv4, tcpPort), ExternalIPv4},
		{"external to pod-a udp", topo.External, UDP, netip.Addr{}, ap(a.IPv4, udpPort), ExternalIPv4},
		{"external client to pod-b tcp", topo.External, TCP, extClient4, ap(b.IPv4, tcpPort), extClient4},
		{"external client to pod-b udp", topo.External, UDP, extClient4, ap(b.IPv4, udpPort), extClient4},
		{"ipv6 node to pod-a tcp", topo.Node, TCP, netip.Addr{}, ap(a.IPv6, tcpPort), a.GatewayIPv6},
		{"ipv6 pod-a to pod-b udp", a.NS, UDP, netip.Addr{}, ap(b.IPv6, udpPort), a.IPv6},
		{"ipv6 external to pod-b tcp", topo.External, TCP, netip.Addr{}, ap(b.IPv6, tcpPort), ExternalIPv6},
		{"ipv6 external client to pod-a udp", topo.External, UDP, extClient6, ap(a.IPv6, udpPort), extClient6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Ask(tt.from, tt.proto, tt.src, tt.dst, answerTimeout)
			if err != nil {
				t.Fatalf("Ask: %v", err)
			}
			if got.Endpoint != tt.dst || got.Client.Addr() != tt.wantClient || got.Client.Port() == 0 {
				t.Errorf("Ask = %+v, want endpoint %s and client %s:<port>", got, tt.dst, tt.wantClient)
			}
		})
	}
}

// checkRefused asks for ports nothing listens on: the pod's kernel
// answers with a reset or port unreachable, which Ask must report as a
// refusal and not as a timeout. A refusal is an answer, so it cannot
// have waited for the timeout; how fast it came is not the test's
// business.
func checkRefused(t *testing.T, topo *Topology) {
	a := topo.Pods["pod-a"]
	tests := []struct {
		name  string
		from  *netns.NS
		proto Proto
		dst   netip.AddrPort
	}{
		{"tcp from node", topo.Node, TCP, ap(a.IPv4, closedPort)},
		{"udp from node", topo.Node, UDP, ap(a.IPv4, closedPort)},
		{"tcp from external", topo.External, TCP, ap(a.IPv4, closedPort)},
		{"udp from pod-b", topo.Pods["pod-b"].NS, UDP, ap(a.IPv4, closedPort)},
		{"ipv6 tcp from external", topo.External, TCP, ap(a.IPv6, closedPort)},
		{"ipv6 udp from node", topo.Node, UDP, ap(a.IPv6, closedPort)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Ask(tt.from, tt.proto, netip.Addr{}, tt.dst, answerTimeout)
			if !Refused(err) || TimedOut(err) {
				t.Errorf("Ask error = %v, want refused", err)
			}
		})
	}
}

// checkDropped adds a forward drop rule for pod-a in the node and wants
// asks through the node to time out, not be refused, while pod-b still
// answers.
func checkDropped(t *testing.T, topo *Topology) {
	ruleset := `
table inet drop-test {
	chain forward {
		type filter hook forward priority 0;
		ip daddr 10.1.1.5 drop
		ip6 daddr fd00:1:1::5 drop
	}
}
`
	if out, err := topo.Node.Run(strings.NewReader(ruleset), "nft", "-f", "-"); err != nil {
		t.Fatalf("loading drop rule: %v: %s", err, out)
	}
	a, b := topo.Pods["pod-a"], topo.Pods["pod-b"]
	tests := []struct {
		name     string
		proto    Proto
		dst      netip.AddrPort
		wantDrop bool
	}{
		{"tcp to pod-a", TCP, ap(a.IPv4, tcpPort), true},
		{"udp to pod-a", UDP, ap(a.IPv4, udpPort), true},
		{"ipv6 tcp to pod-a", TCP, ap(a.IPv6, tcpPort), true},
		{"tcp to pod-b", TCP, ap(b.IPv4, tcpPort), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Ask(topo.External, tt.proto, netip.Addr{}, tt.dst, dropTimeout)
			if tt.wantDrop && (!TimedOut(err) || Refused(err)) {
				t.Errorf("Ask error = %v, want a timeout", err)
			}
			if !tt.wantDrop && err != nil {
				t.Errorf("Ask: %v", err)
			}
		})
	}
}

// checkNodeAddr puts a VIP on the node and runs echo servers in the node
// itself, as for a host-network endpoint, and checks the answers come
// from the VIP: for UDP that needs the server to reply from the address
// the datagram was sent to.
func checkNodeAddr(t *testing.T, topo *Topology) {
	topo.AddNodeAddr(t, lbVIP)
	StartEcho(t, topo.Node, echoPorts...)
	for _, proto := range []Proto{TCP, UDP} {
		t.Run(string(proto), func(t *testing.T) {
			port := uint16(tcpPort)
			if proto == UDP {
				port = udpPort
			}
			dst := ap(lbVIP.Addr(), port)
			got, err := Ask(topo.External, proto, extClient4, dst, answerTimeout)
			if err != nil {
				t.Fatalf("Ask: %v", err)
			}
			if got.Endpoint != dst || got.Client.Addr() != extClient4 {
				t.Errorf("Ask = %+v, want endpoint %s and client %s", got, dst, extClient4)
			}
		})
	}
	topo.DelNodeAddr(t, lbVIP)
	if _, err := Ask(topo.External, TCP, netip.Addr{}, ap(lbVIP.Addr(), tcpPort), dropTimeout); err == nil {
		t.Errorf("Ask to %s answered after DelNodeAddr", lbVIP)
	}
}

// checkAskMany wants every ask counted, each against the one endpoint,
// and a burst of asks to a closed port refused every time, which needs
// ICMP rate limiting off in the pods.
func checkAskMany(t *testing.T, topo *Topology) {
	b := topo.Pods["pod-b"]
	t.Run("udp refused burst", func(t *testing.T) {
		counts, errs := AskMany(topo.External, UDP, netip.Addr{}, ap(b.IPv4, closedPort), 50, answerTimeout)
		if len(counts) != 0 || len(errs) != 50 {
			t.Fatalf("AskMany = %v and %d errors, want 50 errors", counts, len(errs))
		}
		for i, err := range errs {
			if !Refused(err) {
				t.Fatalf("ask %d: error = %v, want refused", i, err)
			}
		}
	})
	for _, proto := range []Proto{TCP, UDP} {
		t.Run(string(proto), func(t *testing.T) {
			port := uint16(tcpPort)
			if proto == UDP {
				port = udpPort
			}
			dst := ap(b.IPv4, port)
			counts, errs := AskMany(topo.Pods["pod-a"].NS, proto, netip.Addr{}, dst, 20, answerTimeout)
			if len(errs) != 0 || len(counts) != 1 || counts[dst] != 20 {
				t.Errorf("AskMany = %v, %v; want 20 answers from %s", counts, errs, dst)
			}
		})
	}
}

// checkSysctls reads back the settings New makes, through `ip netns
// exec`, independently of how New wrote them.
func checkSysctls(t *testing.T, topo *Topology) {
	tests := []struct {
		name string
		ns   *netns.NS
		key  string
		want string
	}{
		{"node ipv4 forwarding", topo.Node, "net/ipv4/ip_forward", "1"},
		{"node ipv6 forwarding", topo.Node, "net/ipv6/conf/all/forwarding", "1"},
		{"pod does not forward", topo.Pods["pod-a"].NS, "net/ipv4/ip_forward", "0"},
		{"external icmp not rate limited", topo.External, "net/ipv4/icmp_ratemask", "0"},
		{"pod icmpv6 not rate limited", topo.Pods["pod-b"].NS, "net/ipv6/icmp/ratemask", ""},
		{"pod addresses usable at once", topo.Pods["pod-b"].NS, "net/ipv6/conf/eth0/accept_dad", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.ns.Run(nil, "cat", "/proc/sys/"+tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(out); got != tt.want {
				t.Errorf("%s = %s, want %s", tt.key, got, tt.want)
			}
		})
	}
}

// namespaces lists the named network namespaces, as `ip netns list`
// shows them.
func namespaces(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("listing namespaces: %v: %s", err, out)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		// Lines look like "NAME" or "NAME (id: 3)".
		if fields := strings.Fields(line); len(fields) > 0 {
			names[fields[0]] = true
		}
	}
	return names
}

// checkThreadsHome checks that every thread of the test process is back
// in the process's own network namespace after all the setns calls.
func checkThreadsHome(t *testing.T) {
	t.Helper()
	home, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		// A thread may exit between the glob and the read.
		if ns, err := os.Readlink(task); err == nil && ns != home {
			t.Errorf("%s is in %s, want %s", task, ns, home)
		}
	}
}

// TestStreamEcho checks that a Stream server answers every line of one
// connection while the client keeps it open.
func TestStreamEcho(t *testing.T) {
	topo := New(t, PodSpec{Name: "pod-a", IPv4: netip.MustParseAddr("10.1.1.5")})
	topo.Pods["pod-a"].StartEcho(t, Port{Proto: Stream, Port: 9000})
	c, err := Dial(topo.Node, TCP, netip.Addr{}, netip.MustParseAddrPort("10.1.1.5:9000"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for i := range 3 {
		if _, err := io.WriteString(c, "ping\n"); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "10.1.1.5:9000 ") {
			t.Fatalf("answer %d: %q, %v", i, line, err)
		}
	}
}
