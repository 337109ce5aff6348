package sync

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/manifest"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// Address plan of the traffic tests (see internal/testnet for the links):
//
//	node-a (the node under test)  192.168.0.10
//	pod-a 10.1.1.5, pod-b 10.1.2.6  run on node-a
//	pod-c 10.1.3.7, pod-d 10.1.4.8  "run on node-b" (their slices say so;
//	                                 they hang off the same node namespace)
//	pod-z 10.1.9.9                   a client pod
//	external clients 203.0.113.7 (inside the LB source range) and
//	203.0.113.200 (outside it); LB VIP 192.0.2.10
var (
	podA = netip.MustParseAddr("10.1.1.5")
	podB = netip.MustParseAddr("10.1.2.6")
	podC = netip.MustParseAddr("10.1.3.7")
	podD = netip.MustParseAddr("10.1.4.8")
	podZ = netip.MustParseAddr("10.1.9.9")

	clientIn  = netip.MustParseAddr("203.0.113.7")
	clientOut = netip.MustParseAddr("203.0.113.200")
)

const trafficTimeout = 2 * time.Second

// trafficServices is the cluster state every backend is tested with.
const trafficServices = `
apiVersion: v1
kind: Service
metadata: {namespace: t, name: web}
spec: {clusterIP: 172.30.0.10, ports: [{name: http, protocol: TCP, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.1.5], nodeName: node-a}
- {addresses: [10.1.2.6], nodeName: node-a}
- {addresses: [10.1.3.7], nodeName: node-b}
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: np}
spec: {type: NodePort, clusterIP: 172.30.0.11, ports: [{name: http, protocol: TCP, port: 80, nodePort: 30080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: np-1, labels: {kubernetes.io/service-name: np}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.3.7], nodeName: node-b}
- {addresses: [10.1.4.8], nodeName: node-b}
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: lb}
spec:
  type: LoadBalancer
  clusterIP: 172.30.0.12
  loadBalancerSourceRanges: [203.0.113.0/25]
  ports: [{name: http, protocol: TCP, port: 80, nodePort: 30082}]
status: {loadBalancer: {ingress: [{ip: 192.0.2.10}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: lb-1, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.3.7], nodeName: node-b}
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: lb-v6-ranges}
spec:
  type: LoadBalancer
  clusterIP: 172.30.0.14
  loadBalancerSourceRanges: [2001:db8::/64]
  ports: [{name: http, protocol: TCP, port: 80, nodePort: 30083}]
status: {loadBalancer: {ingress: [{ip: 192.0.2.11}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: lb-v6-ranges-1, labels: {kubernetes.io/service-name: lb-v6-ranges}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.3.7], nodeName: node-b}
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: empty}
spec: {clusterIP: 172.30.0.20, ports: [{name: http, protocol: TCP, port: 80}, {name: dns, protocol: UDP, port: 53}]}
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: ext-local}
spec: {type: NodePort, clusterIP: 172.30.0.13, externalTrafficPolicy: Local, ports: [{name: http, protocol: TCP, port: 80, nodePort: 30081}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: ext-local-1, labels: {kubernetes.io/service-name: ext-local}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.1.5], nodeName: node-a}
- {addresses: [10.1.3.7], nodeName: node-b}
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: int-local}
spec: {clusterIP: 172.30.0.30, internalTrafficPolicy: Local, ports: [{name: http, protocol: TCP, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: int-local-1, labels: {kubernetes.io/service-name: int-local}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.2.6], nodeName: node-a}
- {addresses: [10.1.4.8], nodeName: node-b}
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: sticky}
spec:
  clusterIP: 172.30.0.40
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports: [{name: http, protocol: TCP, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: sticky-1, labels: {kubernetes.io/service-name: sticky}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.1.5]}
- {addresses: [10.1.2.6]}
- {addresses: [10.1.3.7]}
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: dns}
spec:
  clusterIP: 172.30.0.53
  ports: [{name: tcp, protocol: TCP, port: 53}, {name: udp, protocol: UDP, port: 53}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: dns-tcp, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
ports: [{name: tcp, protocol: TCP, port: 8080}]
endpoints: [{addresses: [10.1.1.5]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: dns-udp, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
ports: [{name: udp, protocol: UDP, port: 8080}]
endpoints: [{addresses: [10.1.3.7]}]
---
apiVersion: v1
kind: Service
metadata: {namespace: t, name: serving-unset}
spec: {clusterIP: 172.30.0.15, ports: [{name: http, protocol: TCP, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: t, name: serving-unset-1, labels: {kubernetes.io/service-name: serving-unset}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.1.4.8], nodeName: node-b, conditions: {ready: false, terminating: true}}
`

// trafficModel builds the IPv4 model of the manifests for node-a.
func trafficModel(t *testing.T, manifests string) *model.Model {
	t.Helper()
	return trafficModelWith(t, manifests, func(*model.Input, *model.Config) {})
}

// trafficModelWith is trafficModel with the input and configuration
// changed by change.
func trafficModelWith(t *testing.T, manifests string, change func(*model.Input, *model.Config)) *model.Model {
	t.Helper()
	m, warns := trafficModelWarned(t, manifests, change)
	if len(warns) > 0 {
		t.Fatalf("warnings: %v", warns)
	}
	return m
}

// trafficModelWarned is trafficModelWith for input that is meant to
// draw warnings, which it returns.
func trafficModelWarned(t *testing.T, manifests string, change func(*model.Input, *model.Config)) (*model.Model, []model.Warning) {
	t.Helper()
	objs, _, err := manifest.Load("traffic test", strings.NewReader(manifests))
	if err != nil {
		t.Fatal(err)
	}
	in := model.Input{
		Services: objs.Services, EndpointSlices: objs.EndpointSlices,
		Node: model.Node{Name: "node-a", IPs: []netip.Addr{testnet.NodeIPv4}},
	}
	cfg := model.Config{
		ClusterCIDRs:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
		MasqueradeBit: model.DefaultMasqueradeBit,
	}
	change(&in, &cfg)
	models, warns := model.Build(in, cfg)
	return models[0], warns
}

// trafficEnv is one backend's node with pods, ready for traffic.
type trafficEnv struct {
	topo    *testnet.Topology
	mode    Mode
	applier Applier
}

func newTrafficEnv(t *testing.T, mode Mode) *trafficEnv {
	t.Helper()
	netnstest.RequireRoot(t, "nft", "iptables-legacy-restore", "iptables-nft-restore")
	topo := testnet.New(t,
		testnet.PodSpec{Name: "pod-a", IPv4: podA}, testnet.PodSpec{Name: "pod-b", IPv4: podB},
		testnet.PodSpec{Name: "pod-c", IPv4: podC}, testnet.PodSpec{Name: "pod-d", IPv4: podD},
		testnet.PodSpec{Name: "pod-z", IPv4: podZ})
	for _, name := range []string{"pod-a", "pod-b", "pod-c", "pod-d"} {
		topo.Pods[name].StartEcho(t, testnet.Port{Proto: testnet.TCP, Port: 8080}, testnet.Port{Proto: testnet.UDP, Port: 8080})
	}
	topo.AddExternalClient(t, clientIn)
	topo.AddExternalClient(t, clientOut)
	return &trafficEnv{topo: topo, mode: mode, applier: newApplier(ExecRunner{Prefix: topo.Node.Prefix()}, mode, model.IPv4, nil, nil)}
}

func (e *trafficEnv) apply(t *testing.T, manifests string) {
	t.Helper()
	if _, err := e.applier.Apply(context.Background(), trafficModel(t, manifests), false); err != nil {
		t.Fatalf("applying %s rules: %v", e.mode, err)
	}
}

func (e *trafficEnv) pod(name string) *netns.NS { return e.topo.Pods[name].NS }

// ask connects n times and returns the endpoints that answered, failing
// the test on any error.
func ask(t *testing.T, from *netns.NS, proto testnet.Proto, src netip.Addr, dst string, n int) map[netip.AddrPort]int {
	t.Helper()
	counts, errs := testnet.AskMany(from, proto, src, netip.MustParseAddrPort(dst), n, trafficTimeout)
	if len(errs) > 0 {
		t.Fatalf("%s %s: %d of %d failed, first: %v", proto, dst, len(errs), n, errs[0])
	}
	return counts
}

func endpointsOf(counts map[netip.AddrPort]int) []netip.Addr {
	var out []netip.Addr
	for ep := range counts {
		out = append(out, ep.Addr())
	}
	return out
}

func sameAddrs(got []netip.Addr, want ...netip.Addr) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[netip.Addr]bool{}
	for _, a := range got {
		seen[a] = true
	}
	for _, a := range want {
		if !seen[a] {
			return false
		}
	}
	return true
}

var trafficModes = []Mode{ModeNFTables, ModeIPTablesNFT, ModeIPTablesLegacy}

// TestTraffic applies one cluster state through each backend and sends
// real connections through the node: where they land, and with which
// source address the endpoint sees them, is the behaviour under test.
func TestTraffic(t *testing.T) {
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			e.apply(t, trafficServices)
			for _, tc := range trafficCases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, e) })
			}
			t.Run("removed endpoint gets no new connections", func(t *testing.T) {
				e.apply(t, strings.Replace(trafficServices, "- {addresses: [10.1.3.7], nodeName: node-b}\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: np}", "---\napiVersion: v1\nkind: Service\nmetadata: {namespace: t, name: np}", 1))
				counts := ask(t, e.pod("pod-z"), testnet.TCP, netip.Addr{}, "172.30.0.10:80", 100)
				if got := endpointsOf(counts); !sameAddrs(got, podA, podB) {
					t.Errorf("after removing 10.1.3.7, connections reached %v", counts)
				}
			})
		})
	}
}

type trafficCase struct {
	name string
	run  func(t *testing.T, e *trafficEnv)
}

var trafficCases = []trafficCase{
	{"cluster IP reaches every endpoint, evenly, keeping the pod's source", func(t *testing.T, e *trafficEnv) {
		counts := ask(t, e.pod("pod-z"), testnet.TCP, netip.Addr{}, "172.30.0.10:80", 210)
		if !sameAddrs(endpointsOf(counts), podA, podB, podC) {
			t.Fatalf("connections reached %v, want all of 10.1.1.5, 10.1.2.6, 10.1.3.7", counts)
		}
		for ep, n := range counts {
			// 70 expected each; a share under 30 would be a broken split,
			// and is about 10^-9 likely by chance.
			if n < 30 {
				t.Errorf("endpoint %s got %d of 210 connections: split is not even (%v)", ep, n, counts)
			}
		}
		a := askOne(t, e.pod("pod-z"), testnet.TCP, netip.Addr{}, "172.30.0.10:80")
		if a.Client.Addr() != podZ {
			t.Errorf("endpoint saw client %s, want the pod's own %s", a.Client, podZ)
		}
	}},
	{"hairpin is masqueraded", func(t *testing.T, e *trafficEnv) {
		checkHairpin(t, e, "pod-a", podA, "172.30.0.10:80")
	}},
	{"NodePort from outside reaches the endpoints, masqueraded", func(t *testing.T, e *trafficEnv) {
		counts := ask(t, e.topo.External, testnet.TCP, clientIn, "192.168.0.10:30080", 30)
		if !sameAddrs(endpointsOf(counts), podC, podD) {
			t.Errorf("NodePort connections reached %v, want 10.1.3.7 and 10.1.4.8", counts)
		}
		if a := askOne(t, e.topo.External, testnet.TCP, clientIn, "192.168.0.10:30080"); a.Client.Addr() == clientIn {
			t.Errorf("endpoint saw the external client %s: NodePort traffic must be masqueraded", a.Client)
		}
	}},
	{"NodePorts open on every local address in iptables mode, the primary one in nftables mode", func(t *testing.T, e *trafficEnv) {
		// kube-proxy's defaults without --nodeport-addresses.
		e.topo.AddNodeAddr(t, netip.MustParsePrefix("198.51.100.10/32"))
		defer e.topo.DelNodeAddr(t, netip.MustParsePrefix("198.51.100.10/32"))
		askOne(t, e.topo.External, testnet.TCP, clientIn, "192.168.0.10:30080")
		_, err := testnet.Ask(e.topo.External, testnet.TCP, clientIn, netip.MustParseAddrPort("198.51.100.10:30080"), trafficTimeout)
		if served := err == nil; served != (e.mode != ModeNFTables) {
			t.Errorf("NodePort on the node's second address: %v, want served: %v", err, e.mode != ModeNFTables)
		}
	}},
	{"load balancer IP admits its source ranges and drops the rest", func(t *testing.T, e *trafficEnv) {
		if a := askOne(t, e.topo.External, testnet.TCP, clientIn, "192.0.2.10:80"); a.Endpoint.Addr() != podC {
			t.Errorf("LB connection from inside the range reached %s, want 10.1.3.7", a.Endpoint)
		}
		_, err := testnet.Ask(e.topo.External, testnet.TCP, clientOut, netip.MustParseAddrPort("192.0.2.10:80"), trafficTimeout)
		if !testnet.TimedOut(err) {
			t.Errorf("LB connection from outside the range: got %v, want it dropped (a timeout)", err)
		}
	}},
	{"source ranges of the other family only leave a load balancer IP open, as kube-proxy does", func(t *testing.T, e *trafficEnv) {
		if a := askOne(t, e.topo.External, testnet.TCP, clientOut, "192.0.2.11:80"); a.Endpoint.Addr() != podC {
			t.Errorf("LB connection reached %s, want 10.1.3.7", a.Endpoint)
		}
	}},
	{"a terminating endpoint whose serving is unset still serves, as kube-proxy reads it", func(t *testing.T, e *trafficEnv) {
		if a := askOne(t, e.pod("pod-z"), testnet.TCP, podZ, "172.30.0.15:80"); a.Endpoint.Addr() != podD {
			t.Errorf("reached %s, want the terminating endpoint 10.1.4.8", a.Endpoint)
		}
	}},
	{"a Service without endpoints refuses at once", func(t *testing.T, e *trafficEnv) {
		for _, p := range []testnet.Proto{testnet.TCP, testnet.UDP} {
			dst := map[testnet.Proto]string{testnet.TCP: "172.30.0.20:80", testnet.UDP: "172.30.0.20:53"}[p]
			_, err := testnet.Ask(e.pod("pod-z"), p, netip.Addr{}, netip.MustParseAddrPort(dst), trafficTimeout)
			if !testnet.Refused(err) {
				t.Errorf("%s %s: got %v, want connection refused", p, dst, err)
			}
		}
	}},
	{"a port the Service does not have is refused in nftables mode only", func(t *testing.T, e *trafficEnv) {
		// kube-proxy's nftables mode refuses it; its iptables mode leaves
		// it to routing, which here has nowhere to send it.
		for _, from := range []*netns.NS{e.pod("pod-z"), e.topo.Node} {
			_, err := testnet.Ask(from, testnet.TCP, netip.Addr{}, netip.MustParseAddrPort("172.30.0.10:81"), trafficTimeout)
			if refused := testnet.Refused(err); refused != (e.mode == ModeNFTables) {
				t.Errorf("from %s: got %v, want refused: %v", from.Name, err, e.mode == ModeNFTables)
			}
		}
	}},
	{"externalTrafficPolicy Local reaches only local endpoints, keeping the source", func(t *testing.T, e *trafficEnv) {
		counts := ask(t, e.topo.External, testnet.TCP, clientIn, "192.168.0.10:30081", 20)
		if !sameAddrs(endpointsOf(counts), podA) {
			t.Errorf("connections reached %v, want only the local 10.1.1.5", counts)
		}
		if a := askOne(t, e.topo.External, testnet.TCP, clientIn, "192.168.0.10:30081"); a.Client.Addr() != clientIn {
			t.Errorf("endpoint saw client %s, want the external client %s", a.Client, clientIn)
		}
	}},
	{"a pod of another node reaching itself through a Local NodePort here is masqueraded", func(t *testing.T, e *trafficEnv) {
		// Pods skip a Local external policy for the cluster endpoints, so
		// pod-c, "on node-b", may be sent back to itself by this node.
		checkHairpin(t, e, "pod-c", podC, "192.168.0.10:30081")
	}},
	{"internalTrafficPolicy Local reaches only local endpoints", func(t *testing.T, e *trafficEnv) {
		counts := ask(t, e.pod("pod-z"), testnet.TCP, netip.Addr{}, "172.30.0.30:80", 20)
		if !sameAddrs(endpointsOf(counts), podB) {
			t.Errorf("connections reached %v, want only the local 10.1.2.6", counts)
		}
	}},
	{"session affinity keeps a client on one endpoint", func(t *testing.T, e *trafficEnv) {
		counts := ask(t, e.pod("pod-z"), testnet.TCP, netip.Addr{}, "172.30.0.40:80", 20)
		if len(counts) != 1 {
			t.Errorf("one client's connections reached %v, want one endpoint", counts)
		}
	}},
	{"TCP and UDP on the same port reach their own endpoints", func(t *testing.T, e *trafficEnv) {
		if a := askOne(t, e.pod("pod-z"), testnet.TCP, netip.Addr{}, "172.30.0.53:53"); a.Endpoint.Addr() != podA {
			t.Errorf("TCP reached %s, want 10.1.1.5", a.Endpoint)
		}
		if a := askOne(t, e.pod("pod-z"), testnet.UDP, netip.Addr{}, "172.30.0.53:53"); a.Endpoint.Addr() != podC {
			t.Errorf("UDP reached %s, want 10.1.3.7", a.Endpoint)
		}
	}},
}

// checkHairpin connects from pod, whose address is self, to dst until it
// has reached itself: those connections must be masqueraded, and the
// others keep the pod's address.
func checkHairpin(t *testing.T, e *trafficEnv, pod string, self netip.Addr, dst string) {
	t.Helper()
	hairpins := 0
	for range 40 {
		a := askOne(t, e.pod(pod), testnet.TCP, netip.Addr{}, dst)
		itself := a.Endpoint.Addr() == self
		if itself {
			hairpins++
		}
		if itself == (a.Client.Addr() == self) {
			t.Fatalf("endpoint %s saw client %s: a pod reaching itself must be masqueraded, others not", a.Endpoint, a.Client)
		}
	}
	if hairpins == 0 {
		t.Errorf("no connection of 40 from %s reached the pod itself", pod)
	}
}

func askOne(t *testing.T, from *netns.NS, proto testnet.Proto, src netip.Addr, dst string) testnet.Answer {
	t.Helper()
	a, err := testnet.Ask(from, proto, src, netip.MustParseAddrPort(dst), trafficTimeout)
	if err != nil {
		t.Fatalf("%s %s: %v", proto, dst, err)
	}
	return a
}

// TestInvalidPackets sends a segment conntrack finds INVALID (SYN with
// FIN) between two pods through the node: kube-proxy's iptables mode
// drops it unless the node's conntrack is liberal, and its nftables mode
// lets it through. A plain SYN first shows what arrives.
func TestInvalidPackets(t *testing.T) {
	for _, mode := range trafficModes {
		for _, liberal := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/liberal=%v", mode, liberal), func(t *testing.T) {
				e := newTrafficEnv(t, mode)
				m := trafficModel(t, trafficServices)
				m.Config.TCPBeLiberal = liberal
				if _, err := e.applier.Apply(context.Background(), m, false); err != nil {
					t.Fatalf("applying %s rules: %v", mode, err)
				}
				wantDropped := mode != ModeNFTables && !liberal
				if arrived := sendTCP(t, e, testnet.FlagSYN); !arrived {
					t.Fatal("a plain SYN from pod-z never reached pod-c")
				}
				if arrived := sendTCP(t, e, testnet.FlagSYN|testnet.FlagFIN); arrived == wantDropped {
					t.Errorf("SYN+FIN from pod-z to pod-c arrived: %v, want %v", arrived, !wantDropped)
				}
			})
		}
	}
}

// sendTCP sends one segment with flags from pod-z to pod-c, through the
// node, and reports whether pod-c received it.
func sendTCP(t *testing.T, e *trafficEnv, flags byte) bool {
	t.Helper()
	const port = 9999
	w, err := testnet.WatchTCP(e.pod("pod-c"), port)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := testnet.SendTCP(e.pod("pod-z"), netip.AddrPortFrom(podZ, 40000), netip.AddrPortFrom(podC, port), flags); err != nil {
		t.Fatal(err)
	}
	got, ok, err := w.Next(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ok && got != flags {
		t.Fatalf("pod-c received flags %#x, want %#x", got, flags)
	}
	return ok
}

// TestNodePortAddressesMatchInterfaces restricts NodePorts to a CIDR that
// holds an address of the node's interfaces but none of its Node
// object's: as with kube-proxy, that address serves NodePorts, and the
// Node object's address no longer does.
func TestNodePortAddressesMatchInterfaces(t *testing.T) {
	second := netip.MustParsePrefix("198.51.100.10/32")
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			e.topo.AddNodeAddr(t, second)
			m := trafficModelWith(t, trafficServices, func(in *model.Input, cfg *model.Config) {
				in.Node.LocalIPs = []netip.Addr{testnet.NodeIPv4, second.Addr()}
				cfg.NodePortAddresses = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
			})
			if _, err := e.applier.Apply(context.Background(), m, false); err != nil {
				t.Fatalf("applying %s rules: %v", mode, err)
			}
			askOne(t, e.topo.External, testnet.TCP, clientIn, "198.51.100.10:30080")
			if _, err := testnet.Ask(e.topo.External, testnet.TCP, clientIn, netip.MustParseAddrPort("192.168.0.10:30080"), trafficTimeout); err == nil {
				t.Error("the Node object's address outside --nodeport-addresses still serves the NodePort")
			}
		})
	}
}
