package conntrack

// Kernel tests. Address plan (see internal/testnet for the topology):
//
//	role                       IPv4             IPv6
//	client pod                 10.1.2.5         fd00:1:2::5
//	"dns" endpoint pod         10.1.1.5:8080    [fd00:1:1::5]:8080
//	other endpoint pod         10.1.3.5:8080    [fd00:1:3::5]:8080
//	Service IP, DNATed         172.30.0.53:53   [fd00:30::53]:53
//	Service IP, no endpoints   172.30.0.60:53   [fd00:30::60]:53
//
// The node DNATs the first Service IP to the "dns" pod with a rule the
// test adds; nothing answers on the second, so its entry is never
// DNATed, as when a Service has no endpoints.

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// entry is one conntrack entry as `conntrack -L` prints it.
type entry struct {
	origDst, replySrc netip.AddrPort
}

func (e entry) String() string { return e.origDst.String() + "->" + e.replySrc.String() }

// parseEntries reads the UDP entries of `conntrack -L -p udp` output: the
// first src/dst/sport/dport group is the original tuple, the second the
// reply tuple. Other lines, such as the summary, are skipped.
func parseEntries(out string) ([]entry, error) {
	var entries []entry
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "udp" {
			continue
		}
		vals := map[string][]string{}
		for _, f := range fields {
			if k, v, ok := strings.Cut(f, "="); ok {
				vals[k] = append(vals[k], v)
			}
		}
		if len(vals["dst"]) < 1 || len(vals["dport"]) < 1 || len(vals["src"]) < 2 || len(vals["sport"]) < 2 {
			return nil, fmt.Errorf("parsing conntrack entry %q: missing tuple fields", line)
		}
		origDst, err1 := netip.ParseAddrPort(joinHostPort(vals["dst"][0], vals["dport"][0]))
		replySrc, err2 := netip.ParseAddrPort(joinHostPort(vals["src"][1], vals["sport"][1]))
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("parsing conntrack entry %q: %v %v", line, err1, err2)
		}
		entries = append(entries, entry{origDst: origDst, replySrc: replySrc})
	}
	return entries, nil
}

// joinHostPort joins an address and port the way netip parses them.
func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

func TestParseEntries(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []string
		wantErr bool
	}{
		{
			name: "replied, unreplied and summary",
			out: "udp      17 29 src=10.1.2.5 dst=172.30.0.53 sport=41234 dport=53 src=10.1.1.5 dst=10.1.2.5 sport=8080 dport=41234 mark=0 use=1\n" +
				"udp      17 29 src=fd00:1:2::5 dst=fd00:30::60 sport=5000 dport=53 [UNREPLIED] src=fd00:30::60 dst=fd00:1:2::5 sport=53 dport=5000 mark=0 use=1\n" +
				"conntrack v1.4.8 (conntrack-tools): 2 flow entries have been shown.\n",
			want: []string{"172.30.0.53:53->10.1.1.5:8080", "[fd00:30::60]:53->[fd00:30::60]:53"},
		},
		{name: "empty", out: "conntrack v1.4.8 (conntrack-tools): 0 flow entries have been shown.\n"},
		{name: "truncated", out: "udp 17 29 src=10.1.2.5 dst=172.30.0.53 sport=1 dport=53\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEntries(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			var gotStrs []string
			for _, e := range got {
				gotStrs = append(gotStrs, e.String())
			}
			if !slices.Equal(gotStrs, tt.want) {
				t.Errorf("entries = %v, want %v", gotStrs, tt.want)
			}
		})
	}
}

// kernelCase is one family's addresses for TestCleanerKernel.
type kernelCase struct {
	name                      string
	family                    model.Family
	nftFamily                 string
	client, dnsPod, otherPod  netip.Addr
	serviceIP, noEndpointsVIP netip.Addr
}

func TestCleanerKernel(t *testing.T) {
	tests := []kernelCase{
		{
			name: "IPv4", family: model.IPv4, nftFamily: "ip",
			client: addr("10.1.2.5"), dnsPod: addr("10.1.1.5"), otherPod: addr("10.1.3.5"),
			serviceIP: addr("172.30.0.53"), noEndpointsVIP: addr("172.30.0.60"),
		},
		{
			name: "IPv6", family: model.IPv6, nftFamily: "ip6",
			client: addr("fd00:1:2::5"), dnsPod: addr("fd00:1:1::5"), otherPod: addr("fd00:1:3::5"),
			serviceIP: addr("fd00:30::53"), noEndpointsVIP: addr("fd00:30::60"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.RequireRoot(t, "nft", "conntrack")
			topo, resolver := setUpFlows(t, tc)
			dnsEP, otherEP := netip.AddrPortFrom(tc.dnsPod, 8080), netip.AddrPortFrom(tc.otherPod, 8080)
			dnat := entry{origDst: netip.AddrPortFrom(tc.serviceIP, 53), replySrc: dnsEP}
			direct := entry{origDst: dnsEP, replySrc: dnsEP}
			other := entry{origDst: otherEP, replySrc: otherEP}
			stuck := entry{origDst: netip.AddrPortFrom(tc.noEndpointsVIP, 53), replySrc: netip.AddrPortFrom(tc.noEndpointsVIP, 53)}
			wantEntries(t, topo.Node, tc.family, []entry{dnat, direct, other, stuck}, nil)

			// The Service moves to the other pod; the resolver, keeping its
			// source port, still reaches the old one through its entry.
			setDNAT(t, topo.Node, tc, otherEP)
			wantAnswer(t, resolver, dnsEP)

			// The model as the proxy now has it: the Service on the other
			// pod, and the Service that had no endpoint with one now.
			m := &model.Model{Family: tc.family, Services: []*model.ServicePort{
				servicePort(tc.serviceIP, otherEP), servicePort(tc.noEndpointsVIP, otherEP),
			}}
			c := NewCleaner("/run/netns/" + topo.Node.Name)
			if n, err := c.ReconcileUDP(m); err != nil || n != 2 {
				t.Errorf("ReconcileUDP = %d, %v; want 2, nil", n, err)
			}
			wantEntries(t, topo.Node, tc.family, []entry{direct, other}, []entry{dnat, stuck})
			wantAnswer(t, resolver, otherEP)
			// Nothing is stale now: a second pass deletes nothing.
			if n, err := c.ReconcileUDP(m); err != nil || n != 0 {
				t.Errorf("second ReconcileUDP = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// servicePort returns a UDP port 53 on ip whose one endpoint is ep.
func servicePort(ip netip.Addr, ep netip.AddrPort) *model.ServicePort {
	return &model.ServicePort{
		Name:      model.PortName{Namespace: "ns", Name: ip.String(), Port: "dns", Protocol: model.UDP},
		ClusterIP: ip, Port: 53, HasEndpoints: true,
		ClusterEndpoints: []model.Endpoint{{IP: ep.Addr(), Port: ep.Port(), Ready: true, Serving: true}},
	}
}

// setUpFlows builds the topology, DNATs the Service IP to the "dns" pod
// and sends the four flows of the address plan from the client pod. The
// one to the Service IP comes from a resolver socket that keeps its
// source port, as a DNS client does; it is returned, open.
func setUpFlows(t *testing.T, tc kernelCase) (*testnet.Topology, net.Conn) {
	t.Helper()
	specs := []testnet.PodSpec{{Name: "client"}, {Name: "dns"}, {Name: "other"}}
	for i, a := range []netip.Addr{tc.client, tc.dnsPod, tc.otherPod} {
		if tc.family == model.IPv4 {
			specs[i].IPv4 = a
		} else {
			specs[i].IPv6 = a
		}
	}
	topo := testnet.New(t, specs...)
	topo.Pods["dns"].StartEcho(t, testnet.Port{Proto: testnet.UDP, Port: 8080})
	topo.Pods["other"].StartEcho(t, testnet.Port{Proto: testnet.UDP, Port: 8080})
	setDNAT(t, topo.Node, tc, netip.AddrPortFrom(tc.dnsPod, 8080))

	client := topo.Pods["client"].NS
	resolver := dial(t, client, netip.AddrPortFrom(tc.serviceIP, 53))
	wantAnswer(t, resolver, netip.AddrPortFrom(tc.dnsPod, 8080))
	for _, dst := range []netip.AddrPort{netip.AddrPortFrom(tc.dnsPod, 8080), netip.AddrPortFrom(tc.otherPod, 8080)} {
		if _, err := testnet.Ask(client, testnet.UDP, netip.Addr{}, dst, 2*time.Second); err != nil {
			t.Fatalf("asking %s: %v", dst, err)
		}
	}
	// Nothing answers here; the datagram only has to leave an entry.
	if _, err := dial(t, client, netip.AddrPortFrom(tc.noEndpointsVIP, 53)).Write([]byte("?\n")); err != nil {
		t.Fatalf("sending to %s: %v", tc.noEndpointsVIP, err)
	}
	return topo, resolver
}

// setDNAT makes the node DNAT UDP to the Service IP, port 53, to ep,
// replacing the rule it had.
func setDNAT(t *testing.T, node *netns.NS, tc kernelCase, ep netip.AddrPort) {
	t.Helper()
	ruleset := fmt.Sprintf("table %[1]s svcproxy_test\ndelete table %[1]s svcproxy_test\n"+
		"table %[1]s svcproxy_test {\n chain pre {\n  type nat hook prerouting priority -100;\n"+
		"  %[1]s daddr %[2]s udp dport 53 dnat to %[3]s\n }\n}\n", tc.nftFamily, tc.serviceIP, ep)
	if _, err := node.Run(strings.NewReader(ruleset), "nft", "-f", "-"); err != nil {
		t.Fatalf("setting DNAT rule: %v", err)
	}
}

// dial opens a UDP socket in ns connected to dst, closed when t ends.
func dial(t *testing.T, ns *netns.NS, dst netip.AddrPort) net.Conn {
	t.Helper()
	conn, err := testnet.Dial(ns, testnet.UDP, netip.Addr{}, dst, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// wantAnswer sends one datagram on conn and checks which echo server
// endpoint answers it.
func wantAnswer(t *testing.T, conn net.Conn, want netip.AddrPort) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("?\n")); err != nil {
		t.Fatalf("sending to %s: %v", conn.RemoteAddr(), err)
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("reading answer from %s: %v", conn.RemoteAddr(), err)
	}
	fields := strings.Fields(string(buf[:n]))
	if len(fields) == 0 || fields[0] != want.String() {
		t.Errorf("answered by %q, want endpoint %s", buf[:n], want)
	}
}

// wantEntries checks that the node's conntrack table of family holds
// every entry of present and none of absent.
func wantEntries(t *testing.T, node *netns.NS, family model.Family, present, absent []entry) {
	t.Helper()
	out, err := node.Run(nil, "conntrack", "-L", "-p", "udp", "-f", family.String())
	if err != nil {
		t.Fatalf("listing conntrack entries: %v", err)
	}
	entries, err := parseEntries(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range present {
		if !slices.Contains(entries, e) {
			t.Errorf("entry %s missing; table:\n%s", e, out)
		}
	}
	for _, e := range absent {
		if slices.Contains(entries, e) {
			t.Errorf("entry %s still present; table:\n%s", e, out)
		}
	}
}
