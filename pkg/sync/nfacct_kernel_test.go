package sync

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/nsexec"
	"github.com/svcproxy/svcproxy/internal/sysctl"
	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
)

// TestNFAcct creates a counter twice in a namespace of the test's own,
// counts datagrams in it with an iptables rule, and reads them back; a
// counter that does not exist is an error.
func TestNFAcct(t *testing.T) {
	netnstest.RequireRoot(t, "iptables-nft")
	ns := netnstest.New(t)
	path := "/run/netns/" + ns.Name
	for range 2 {
		if err := ensureNFAcct(path, "svcproxy_test"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := NFAcctPackets(path, "svcproxy_test"); err != nil || n != 0 {
		t.Fatalf("a new counter reads %d, %v; want 0", n, err)
	}
	for _, c := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"iptables-nft", "-A", "OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9", "-m", "nfacct", "--nfacct-name", "svcproxy_test"},
	} {
		if out, err := ns.Run(nil, c[0], c[1:]...); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	err := nsexec.Do(path, func() error {
		// Unconnected, so that the refusals that come back (nothing
		// listens) fail no later send.
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer c.Close()
		to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
		for range 3 {
			if _, err := c.WriteTo([]byte("x"), to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := NFAcctPackets(path, "svcproxy_test"); err != nil || n != 3 {
		t.Errorf("after three datagrams the counter reads %d, %v; want 3", n, err)
	}
	if _, err := NFAcctPackets(path, "no_such_counter"); err == nil {
		t.Error("reading a counter that does not exist succeeded")
	}
}

// TestNFAcctCountsPackets initializes a node in each iptables mode, as
// run does, and applies the traffic Services with the counters: one
// INVALID segment between pods and one connection to a localhost
// NodePort are counted in kube-proxy's counters, and nothing else is.
func TestNFAcctCountsPackets(t *testing.T) {
	for _, mode := range []Mode{ModeIPTablesNFT, ModeIPTablesLegacy} {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			path := "/run/netns/" + e.topo.Node.Name
			r := ExecRunner{Prefix: e.topo.Node.Prefix()}
			n := &Node{Runner: r, Detector: &Detector{Runner: r}, Request: Request(mode), Sysctls: sysctl.New(path), Stamps: &KernelStamps{NetNS: path}, NetNS: path}
			m := trafficModelWith(t, trafficServices, func(_ *model.Input, cfg *model.Config) { cfg.LocalhostNodePorts = true })
			prep, err := n.Initialize(context.Background(), m.Config)
			if err != nil || !prep.NFAcctCounters {
				t.Fatalf("Initialize = %+v, %v; want the counters made", prep, err)
			}
			m.Config.NFAcctCounters = true
			if _, err := n.Apply(context.Background(), []*model.Model{m}, false); err != nil {
				t.Fatal(err)
			}
			checkCounter := func(name string, want uint64) {
				t.Helper()
				if got, err := NFAcctPackets(path, name); err != nil || got != want {
					t.Errorf("%s = %d, %v; want %d", name, got, err, want)
				}
			}
			askOne(t, e.pod("pod-z"), testnet.TCP, podZ, "172.30.0.10:80")
			checkCounter(iptables.NFAcctInvalidDropped, 0)
			checkCounter(iptables.NFAcctLocalhostAccepted, 0)
			if arrived := sendTCP(t, e, testnet.FlagSYN|testnet.FlagFIN); arrived {
				t.Error("an INVALID segment got through")
			}
			checkCounter(iptables.NFAcctInvalidDropped, 1)
			if _, err := testnet.Ask(e.topo.Node, testnet.TCP, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddrPort("127.0.0.1:30080"), trafficTimeout); err != nil {
				t.Fatalf("127.0.0.1:30080: %v", err)
			}
			checkCounter(iptables.NFAcctLocalhostAccepted, 1)
		})
	}
}
