package sync

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/sysctl"
	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestLocalhostNodePorts initializes the node for localhost NodePorts and
// applies the traffic Services through Node in each mode. As kube-proxy's,
// iptables mode sets route_localnet and serves 127.0.0.1:NODEPORT from
// the node, masqueraded to the node's address; nftables mode does
// neither. Where route_localnet is set, KUBE-FIREWALL keeps a neighbour
// that sends to 127.0.0.2 off the node's loopback services, and without
// it the same packet gets through.
func TestLocalhostNodePorts(t *testing.T) {
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			r := ExecRunner{Prefix: e.topo.Node.Prefix()}
			sys := sysctl.New("/run/netns/" + e.topo.Node.Name)
			n := &Node{Runner: r, Detector: &Detector{Runner: r}, Request: Request(mode), Sysctls: sys}
			m := trafficModelWith(t, trafficServices, func(_ *model.Input, cfg *model.Config) { cfg.LocalhostNodePorts = true })
			served := mode != ModeNFTables
			if prep, err := n.Initialize(context.Background(), m.Config); err != nil || prep.RouteLocalnet != served {
				t.Fatalf("Initialize = %+v, %v; want route_localnet set: %v", prep, err, served)
			}
			if _, err := n.Apply(context.Background(), []*model.Model{m}, false); err != nil {
				t.Fatal(err)
			}
			if v, _, err := sys.Get(routeLocalnet); err != nil || (v == 1) != served {
				t.Errorf("route_localnet = %d, %v; want it set: %v", v, err, served)
			}
			loopback := netip.MustParseAddr("127.0.0.1")
			a, err := testnet.Ask(e.topo.Node, testnet.TCP, loopback, netip.MustParseAddrPort("127.0.0.1:30080"), trafficTimeout)
			switch {
			case !served && err == nil:
				t.Errorf("127.0.0.1:30080 answered from %s in nftables mode", a.Endpoint)
			case served && err != nil:
				t.Fatalf("127.0.0.1:30080: %v", err)
			case served && !masqueradedTo(e, a, "pod-c", "pod-d"):
				t.Errorf("127.0.0.1:30080 reached %s as %s; want pod-c or pod-d, from the node's address", a.Endpoint, a.Client)
			}
			if served {
				checkReapplyChangesNothing(t, e, n, m)
				checkLocalnetGuard(t, e)
			}
		})
	}
}

// masqueradedTo reports whether a came from one of the pods, with the
// node's address on that pod's link as its client.
func masqueradedTo(e *trafficEnv, a testnet.Answer, pods ...string) bool {
	for _, name := range pods {
		p := e.topo.Pods[name]
		if a.Endpoint.Addr() == p.IPv4 && a.Client.Addr() == p.GatewayIPv4 {
			return true
		}
	}
	return false
}

// checkReapplyChangesNothing applies m in full again: the jumps to
// KUBE-FIREWALL, which svcproxy does not own, are found in place.
func checkReapplyChangesNothing(t *testing.T, e *trafficEnv, n *Node, m *model.Model) {
	t.Helper()
	// -S prints no counters, which a legacy restore resets.
	save := func() string {
		out, err := e.topo.Node.Run(nil, IPTablesCommand(model.IPv4, e.mode, ""), "-t", "filter", "-S")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := save()
	if _, err := n.Apply(context.Background(), []*model.Model{m}, false); err != nil {
		t.Fatal(err)
	}
	if after := save(); after != before {
		t.Errorf("a second full apply changed the filter table:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// checkLocalnetGuard sends a SYN from the external namespace to
// 127.0.0.2, first with the node's rules as loaded, then with
// KUBE-FIREWALL flushed, and checks it reaches the node's loopback only
// without the guard.
func checkLocalnetGuard(t *testing.T, e *trafficEnv) {
	t.Helper()
	e.topo.RouteLoopbackToNode(t)
	const port = 9998
	send := func() bool {
		w, err := testnet.WatchTCP(e.topo.Node, port)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)
		if err := testnet.SendTCP(e.topo.External, netip.AddrPortFrom(clientIn, 40001), dst, testnet.FlagSYN); err != nil {
			t.Fatal(err)
		}
		_, ok, err := w.Next(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if send() {
		t.Error("a neighbour's SYN to 127.0.0.2 reached the node's loopback past KUBE-FIREWALL")
	}
	if out, err := e.topo.Node.Run(nil, IPTablesCommand(model.IPv4, e.mode, ""), "-t", "filter", "-F", "KUBE-FIREWALL"); err != nil {
		t.Fatalf("flushing KUBE-FIREWALL: %v: %s", err, strings.TrimSpace(out))
	}
	if !send() {
		t.Error("without KUBE-FIREWALL the SYN did not arrive either: the check proves nothing")
	}
}
